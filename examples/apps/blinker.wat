;; blinker: toggles GPIO pin 0 on every tick.
;;
;; It declares a memory of 0 pages and keeps its state in a global, so it fits
;; every board, the Uno R4 (less than one 64 KiB page for apps) included.
(module
  (import "wasmbed" "gpio_write" (func $gpio_write (param i32 i32) (result i32)))
  (memory (export "memory") 0 0)
  (global $on (mut i32) (i32.const 0))

  ;; Start with the pin low.
  (func (export "init")
    (global.set $on (i32.const 0))
    (drop (call $gpio_write (i32.const 0) (i32.const 0))))

  (func (export "tick")
    (global.set $on (i32.eqz (global.get $on)))
    (drop (call $gpio_write (i32.const 0) (global.get $on)))))
