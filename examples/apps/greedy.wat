;; greedy: asks for more memory than its deploy allows. It declares a memory of 0
;; pages and grows it by one 64 KiB page on every tick; with a memory limit below one
;; page the first grow is past the limit, and the runtime must stop it as
;; "out_of_memory" (ABI v1: a grow past the limit stops the app rather than returning
;; -1) and keep the device and its other apps running.
(module
  (memory (export "memory") 0)
  (global $pages (mut i32) (i32.const 0))
  (func (export "tick")
    (global.set $pages (memory.grow (i32.const 1)))))
