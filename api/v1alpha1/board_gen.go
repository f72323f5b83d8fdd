// Code generated from board/boards.toml by `make generate` (go run ./board/boardgen); DO NOT EDIT.

package v1alpha1

// Board is a board profile name (package board, board/boards.toml).
// +kubebuilder:validation:Enum=linux;mps2-an386;nano33ble;riscv32-virt;stm32f4-discovery;uno-r4
type Board string
