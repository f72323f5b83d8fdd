*** Comments ***
The firmware as built (bin/firmware/<board>.elf, not provisioned) boots on the board's Renode
platform and prints its banner, its clock check and `boot: ok` on the console UART; the test
images (bin/firmware/<board>-selftest.elf) of the boards only Renode runs run the example apps,
and uno-r4's, provisioned for the `echo` diagnostic, sends through its link UART and the modem
bridge to an echo server and gets it all back.
Run by `make test-renode` (scripts/test-renode.sh); by hand: `renode-test renode/firmware-boot.robot`.

*** Settings ***
Suite Setup       Setup
Suite Teardown    Teardown
Test Teardown     Test Teardown
Resource          ${RENODEKEYWORDS}
Library           ${CURDIR}/wasmbed.py    ${ROOT}    ${RESULTS}/firmware-boot

*** Variables ***
${ROOT}           ${CURDIR}/..
# Where the bridge's log and the provisioned images go (scripts/test-renode.sh's results).
${RESULTS}        ${ROOT}/bin/renode-results

*** Keywords ***
Boot
    [Arguments]    ${board}    ${console}
    Execute Command    mach create "${board}"
    # The peripheral models renode/*.repl use beyond Renode's own (nano33ble.repl's UARTE1).
    Execute Command    include @${ROOT}/renode/NRF52840_UARTE.cs
    Execute Command    machine LoadPlatformDescription @${ROOT}/renode/${board}.repl
    Execute Command    sysbus LoadELF @${ROOT}/bin/firmware/${board}.elf
    Create Terminal Tester    sysbus.${console}    timeout=10
    Start Emulation

Link Teardown
    Stop Bridges
    Stop Echo Servers
    Test Teardown

Register Should Be
    [Arguments]    ${address}    ${value}
    ${read}=    Execute Command    sysbus ReadDoubleWord ${address}
    Should Be Equal    ${read.strip()}    ${value}

*** Test Cases ***
STM32F4 Discovery Boots
    Boot    stm32f4-discovery    usart1
    # content= : a bare `board=...` would be taken for a named argument.
    Wait For Line On Uart    content=board=stm32f4-discovery
    # SysTick at the core clock: a 20 ms delay reads as 20 ms of uptime.
    Wait For Line On Uart    clock: 168 MHz core, uptime 20 ms
    Wait For Line On Uart    boot: ok
    Wait For Line On Uart    config: not provisioned

Nano 33 BLE Boots
    Boot    nano33ble    uart0
    Wait For Line On Uart    content=board=nano33ble
    Wait For Line On Uart    clock: 64 MHz core, uptime 20 ms
    Wait For Line On Uart    boot: ok
    Wait For Line On Uart    config: not provisioned

Nano 33 BLE UARTE1 Receives At Most MAXCNT Bytes
    # renode/NRF52840_UARTE.cs: bytes that arrive after a one-byte reception ended (ENDRX),
    # once the software has cleared ENDRX and before its next STARTRX, wait for that STARTRX
    # (the stock model writes them past the buffer and drops them). The firmware's link
    # (board/nano33ble.rs) clears ENDRX, then starts the next reception, after each byte.
    Execute Command    mach create "uarte"
    Execute Command    include @${ROOT}/renode/NRF52840_UARTE.cs
    Execute Command    machine LoadPlatformDescription @${ROOT}/renode/nano33ble.repl
    Execute Command    sysbus WriteDoubleWord 0x40028500 8
    Execute Command    sysbus WriteDoubleWord 0x40028534 0x20000100
    Execute Command    sysbus WriteDoubleWord 0x40028538 1
    Execute Command    sysbus WriteDoubleWord 0x40028000 1
    Execute Command    sysbus.uarte1 WriteChar 0x41
    Register Should Be    0x40028110    0x00000001    # ENDRX
    Register Should Be    0x20000100    0x00000041
    Execute Command    sysbus WriteDoubleWord 0x40028110 0
    Execute Command    sysbus.uarte1 WriteChar 0x42
    Execute Command    sysbus.uarte1 WriteChar 0x43
    # Nothing written past the buffer, no reception under way.
    Register Should Be    0x20000100    0x00000041
    Register Should Be    0x4002853C    0x00000001    # RXD.AMOUNT
    Register Should Be    0x40028110    0x00000000
    Execute Command    sysbus WriteDoubleWord 0x40028000 1
    Register Should Be    0x40028110    0x00000001
    Register Should Be    0x20000100    0x00000042
    Execute Command    sysbus WriteDoubleWord 0x40028110 0
    Execute Command    sysbus WriteDoubleWord 0x40028000 1
    Register Should Be    0x20000100    0x00000043

RISC-V Virt Boots
    # RV32IMAC on riscv_virt (+ a second UART): the CLINT's machine timer is the tick.
    Boot    riscv32-virt    uart0
    Wait For Line On Uart    content=board=riscv32-virt
    Wait For Line On Uart    clock: 100 MHz core, uptime 20 ms
    Wait For Line On Uart    boot: ok
    Wait For Line On Uart    config: not provisioned

RISC-V Virt Runs The Example Apps
    # The test image (scripts/firmware.sh build-test riscv32-virt) runs examples/apps side by
    # side for 6 s: the well-behaved ones run and publish, the misbehaving ones are stopped
    # with their reason, and the firmware goes on (what `test-qemu` checks on the QEMU boards).
    Execute Command    mach create "riscv32-virt-selftest"
    Execute Command    machine LoadPlatformDescription @${ROOT}/renode/riscv32-virt.repl
    Execute Command    sysbus LoadELF @${ROOT}/bin/firmware/riscv32-virt-selftest.elf
    Create Terminal Tester    sysbus.uart0    timeout=60
    Start Emulation
    Wait For Line On Uart    content=board=riscv32-virt
    Wait For Line On Uart    selftest: app sensor installed
    Wait For Line On Uart    selftest: app spin stopped: fuel_exhausted
    # greedy's allocation past its arena leaves through wasmbed-runtime's escape (the RV32
    # save and restore of the callee-saved registers).
    Wait For Line On Uart    selftest: app greedy stopped: out_of_memory
    Wait For Line On Uart    selftest: out sensor log 3 sensor started
    Wait For Line On Uart    selftest: out sensor value temperature=21
    Wait For Line On Uart    selftest: final sensor running
    Wait For Line On Uart    selftest: final blinker running
    Wait For Line On Uart    selftest: done

Uno R4 Minima Runs The Example Apps
    # A wall-clock bound too: a firmware stuck in an interrupt (the ICU's latch not
    # cleared) slows Renode's virtual time to a crawl, and the testers' timeouts with it.
    [Timeout]    2 minutes
    # The RA4M1 in 32 KiB of RAM (the TLS image: renode/gateway.robot). No app can have a
    # 64 KiB page, and the board runs one app (board/boards.toml): the blinker (0 pages) runs,
    # the others are refused; SysTick at the HOCO's 48 MHz (renode/uno-r4.repl).
    Execute Command    mach create "uno-r4-selftest"
    Execute Command    machine LoadPlatformDescription @${ROOT}/renode/uno-r4.repl
    Execute Command    sysbus LoadELF @${ROOT}/bin/firmware/uno-r4-selftest.elf
    Create Terminal Tester    sysbus.sci2    timeout=60
    Start Emulation
    Wait For Line On Uart    content=board=uno-r4
    Wait For Line On Uart    clock: 48 MHz core, uptime 20 ms
    Wait For Line On Uart    boot: ok
    Wait For Line On Uart    selftest: app sensor skipped: no_room
    Wait For Line On Uart    selftest: app blinker installed
    Wait For Line On Uart    selftest: app spin skipped: no_room: too many apps
    Wait For Line On Uart    selftest: app greedy skipped: no_room: too many apps
    # The blinker toggles GPIO pin 0, LED_BUILTIN on P111 (renode/uno-r4.repl wires the LED),
    # on every 100 ms tick while the self-test runs.
    Create LED Tester    sysbus.port1.led    defaultTimeout=1
    Assert LED State    true
    Assert LED State    false
    Assert LED Is Blinking    testDuration=1    onDuration=0.1    offDuration=0.1    tolerance=0.3
    Wait For Line On Uart    selftest: final blinker running
    Wait For Line On Uart    selftest: done
    Wait For Line On Uart    config: not provisioned

Uno R4 Minima Link Echo
    [Timeout]    2 minutes
    [Teardown]    Link Teardown
    # SCI9's receive interrupt through the ICU (IELSR0, its IR latch cleared per interrupt)
    # into a 512-byte ring: 16 KiB through that window, the modem waiting for credits.
    ${echo}=    Start Echo Server
    ${elf}=    Provision Diag Image    uno-r4    uno-r4-echo    echo    ${echo}
    ${port}=    Free Port
    Execute Command    mach create "uno-r4-echo"
    Execute Command    machine LoadPlatformDescription @${ROOT}/renode/uno-r4.repl
    Execute Command    emulation CreateServerSocketTerminal ${port} "link" false
    Execute Command    connector Connect sysbus.sci9 link
    Execute Command    sysbus LoadELF @${elf}
    Create Terminal Tester    sysbus.sci2    timeout=30
    Start Bridge    ${port}    uno-r4-bridge    ${echo}
    Start Emulation
    Wait For Line On Uart    config: device uno-r4-echo gateway ${echo}
    Wait For Line On Uart    link: modem ready
    Wait For Line On Uart    link: echo ok (22 bytes)
    Wait For Line On Uart    link: echo ok (16384 bytes in
    Wait For Line On Uart    diag: done
