;; trap: logs at init, then traps (unreachable) in its first tick. The runtime
;; must stop it as "trapped" and keep the device and its other apps running.
(module
  (import "wasmbed" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "about to trap")
  (func (export "init")
    (call $log (i32.const 3) (i32.const 0) (i32.const 13)))
  (func (export "tick")
    unreachable))
