*** Comments ***
The firmware as built (bin/firmware/<board>.elf, not provisioned) boots on the board's Renode
platform and prints its banner, its clock check and `boot: ok` on the console UART.
Run by `make test-renode` (scripts/test-renode.sh); by hand: `renode-test renode/firmware-boot.robot`.

*** Settings ***
Suite Setup       Setup
Suite Teardown    Teardown
Test Teardown     Test Teardown
Resource          ${RENODEKEYWORDS}

*** Variables ***
${ROOT}           ${CURDIR}/..

*** Keywords ***
Boot
    [Arguments]    ${board}    ${console}
    Execute Command    mach create "${board}"
    Execute Command    machine LoadPlatformDescription @${ROOT}/renode/${board}.repl
    Execute Command    sysbus LoadELF @${ROOT}/bin/firmware/${board}.elf
    Create Terminal Tester    sysbus.${console}    timeout=10
    Start Emulation

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
