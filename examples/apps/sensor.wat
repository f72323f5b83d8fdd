;; sensor: publishes "temperature" on every tick.
;;
;; The value is offset + n, where n counts ticks from 1 and offset is the
;; decimal integer in the deploy's config under "offset" (0 when absent, with a
;; warning). It logs once at init.
(module
  (import "wasmbed" "log" (func $log (param i32 i32 i32)))
  (import "wasmbed" "publish" (func $publish (param i32 i32 f64) (result i32)))
  (import "wasmbed" "config_get" (func $config_get (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1 1)

  (data (i32.const 0) "offset")                ;; 6 bytes
  (data (i32.const 16) "temperature")          ;; 11 bytes
  (data (i32.const 32) "sensor started")       ;; 14 bytes
  (data (i32.const 48) "no offset configured") ;; 20 bytes
  ;; [256, 512): buffer for the config value

  (global $offset (mut f64) (f64.const 0))
  (global $n (mut i32) (i32.const 0))

  (func (export "init")
    (local $len i32)
    (local.set $len
      (call $config_get (i32.const 0) (i32.const 6) (i32.const 256) (i32.const 256)))
    (if (i32.gt_s (local.get $len) (i32.const 0))
      (then (global.set $offset (call $parse (i32.const 256) (local.get $len))))
      (else (call $log (i32.const 2) (i32.const 48) (i32.const 20))))
    (call $log (i32.const 3) (i32.const 32) (i32.const 14)))

  ;; A decimal unsigned integer at [p, p+n).
  (func $parse (param $p i32) (param $n i32) (result f64)
    (local $v i32) (local $end i32)
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $v
          (i32.add (i32.mul (local.get $v) (i32.const 10))
                   (i32.sub (i32.load8_u (local.get $p)) (i32.const 48))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    (f64.convert_i32_s (local.get $v)))

  (func (export "tick")
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (drop (call $publish (i32.const 16) (i32.const 11)
      (f64.add (global.get $offset) (f64.convert_i32_s (global.get $n)))))))
