// Code generated from board/boards.toml by `make generate` (go run ./board/boardgen); DO NOT EDIT.

package emulator

// boards are the firmware's boards an emulator runs.
var boards = []Board{
	{Name: "mps2-an386", QEMUMachine: "mps2-an386", RenodePlatform: "", RenodeConsole: "", RenodeLink: ""},
	{Name: "nano33ble", QEMUMachine: "", RenodePlatform: "platforms/boards/arduino_nano_33_ble.repl", RenodeConsole: "sysbus.uart0", RenodeLink: "sysbus.uarte1"},
	{Name: "riscv32-virt", QEMUMachine: "", RenodePlatform: "platforms/cpus/riscv_virt.repl", RenodeConsole: "sysbus.uart0", RenodeLink: "sysbus.uart1"},
	{Name: "stm32f4-discovery", QEMUMachine: "netduinoplus2", RenodePlatform: "platforms/boards/stm32f4_discovery-kit.repl", RenodeConsole: "sysbus.usart1", RenodeLink: "sysbus.usart2"},
	{Name: "uno-r4", QEMUMachine: "", RenodePlatform: "platforms/boards/arduino_uno_r4_minima.repl", RenodeConsole: "sysbus.sci2", RenodeLink: "sysbus.sci9"},
}
