;; The interpreter benchmark's kernel (feature `bench`, src/bench.rs): 4 KiB of
;; xorshift32 bytes written to linear memory, then their CRC-32 (bitwise, reflected,
;; polynomial 0xEDB88320). src/bench.rs runs the same algorithm compiled into the
;; firmware and checks both give the same CRC. An app in form (memory, tick) so the
;; runtime installs it like any other.
;;
;; The `spin_*` exports never return: each loops on one kind of work until its fuel
;; runs out, so that src/bench.rs measures what one unit of fuel costs in core cycles
;; for integer work, double-precision arithmetic (software on a Cortex-M4F), calls
;; (each a frame with locals on the app's heap) and bulk memory (charged per byte):
;; the basis of the firmware's fuel cap (apps.rs, CYCLES_PER_FUEL).
(module
  (memory (export "memory") 1)
  (func (export "tick"))
  (func (export "run") (result i32)
    (local $i i32) (local $x i32) (local $crc i32) (local $k i32)
    (local.set $x (i32.const 0x92D68CA2))
    (block $filled
      (loop $fill
        (br_if $filled (i32.ge_u (local.get $i) (i32.const 4096)))
        (local.set $x (i32.xor (local.get $x) (i32.shl (local.get $x) (i32.const 13))))
        (local.set $x (i32.xor (local.get $x) (i32.shr_u (local.get $x) (i32.const 17))))
        (local.set $x (i32.xor (local.get $x) (i32.shl (local.get $x) (i32.const 5))))
        (i32.store8 (local.get $i) (local.get $x))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $fill)))
    (local.set $crc (i32.const -1))
    (local.set $i (i32.const 0))
    (block $done
      (loop $bytes
        (br_if $done (i32.ge_u (local.get $i) (i32.const 4096)))
        (local.set $crc (i32.xor (local.get $crc) (i32.load8_u (local.get $i))))
        (local.set $k (i32.const 8))
        (loop $bits
          (local.set $crc
            (i32.xor
              (i32.shr_u (local.get $crc) (i32.const 1))
              (i32.and (i32.const 0xEDB88320)
                       (i32.sub (i32.const 0) (i32.and (local.get $crc) (i32.const 1))))))
          (br_if $bits (local.tee $k (i32.sub (local.get $k) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $bytes)))
    (i32.xor (local.get $crc) (i32.const -1)))
  (func (export "spin_int")
    (local $x i32)
    (loop $l
      (local.set $x (i32.add (i32.mul (local.get $x) (i32.const 1103515245)) (i32.const 12345)))
      (i32.store (i32.and (local.get $x) (i32.const 0xfffc)) (local.get $x))
      (br $l)))
  (func (export "spin_f64")
    (local $x f64)
    (local.set $x (f64.const 1.5))
    (loop $l
      (local.set $x (f64.sqrt (f64.add (f64.div (f64.const 1e6) (local.get $x)) (f64.const 0.5))))
      (br $l)))
  (func $leaf (param $a i32) (param $b i32) (result i32)
    (local i32 i32 i32 i32 i32 i32 i32 i32)
    (i32.add (local.get $a) (local.get $b)))
  (func (export "spin_call")
    (local $x i32)
    (loop $l
      (local.set $x (call $leaf (local.get $x) (i32.const 1)))
      (br $l)))
  (func (export "spin_mem")
    (loop $l
      (memory.fill (i32.const 0) (i32.const 7) (i32.const 65536))
      (memory.copy (i32.const 0) (i32.const 32768) (i32.const 32768))
      (br $l))))
