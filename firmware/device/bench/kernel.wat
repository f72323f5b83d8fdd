;; The interpreter benchmark's kernel (feature `bench`, src/bench.rs): 4 KiB of
;; xorshift32 bytes written to linear memory, then their CRC-32 (bitwise, reflected,
;; polynomial 0xEDB88320). src/bench.rs runs the same algorithm compiled into the
;; firmware and checks both give the same CRC. An app in form (memory, tick) so the
;; runtime installs it like any other.
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
    (i32.xor (local.get $crc) (i32.const -1))))
