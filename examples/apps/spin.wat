;; spin: loops forever in tick. The runtime must stop it as "fuel_exhausted"
;; when the call's fuel is used up, and keep the device and its other apps
;; running.
(module
  (memory (export "memory") 0 0)
  (global $n (mut i64) (i64.const 0))
  (func (export "tick")
    (loop $forever
      (global.set $n (i64.add (global.get $n) (i64.const 1)))
      (br $forever))))
