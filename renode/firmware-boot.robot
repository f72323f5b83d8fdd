*** Comments ***
Renode Robot Framework test: the firmware boots and prints its banner on the console.
UNTESTED here (no Renode on these machines); run with `renode-test renode/firmware-boot.robot`
after `scripts/firmware.sh build`.

*** Settings ***
Suite Setup       Setup
Suite Teardown    Teardown
Test Teardown     Test Teardown
Resource          ${RENODEKEYWORDS}

*** Variables ***
${ROOT}           ${CURDIR}/..

*** Keywords ***
Boot
    [Arguments]    ${board}    ${repl}    ${uart}
    Execute Command    mach create
    Execute Command    machine LoadPlatformDescription @platforms/boards/${repl}
    Execute Command    sysbus LoadELF @${ROOT}/bin/firmware/${board}.elf
    Create Terminal Tester    sysbus.${uart}    timeout=10
    Start Emulation

*** Test Cases ***
STM32F4 Discovery Boots
    Boot    stm32f4-discovery    stm32f4_discovery-kit.repl    usart1
    Wait For Line On Uart    board=stm32f4-discovery
    Wait For Line On Uart    boot: ok

Nano 33 BLE Boots
    Boot    nano33ble    arduino_nano_33_ble.repl    uart0
    Wait For Line On Uart    board=nano33ble
    Wait For Line On Uart    boot: ok
