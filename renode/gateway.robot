*** Comments ***
A device in Renode against the real gateway: the suite starts bin/wasmbed-gateway (fresh data
directory, loopback ports); each test registers a device, provisions a copy of the board's
image for it, boots it on the board's Renode platform with its link UART on a server socket
terminal that bin/wasmbed-uart-bridge dials, and checks on the console and through the API
that it enrolls (TLS 1.3, server-authenticated), comes online over mutual TLS and runs the
sensor app, whose values reach the gateway.
Run by `make test-renode` (scripts/test-renode.sh), which builds what it needs first.
Logs: the gateway's and the bridge's in bin/renode-results/wasmbed/.

*** Settings ***
Suite Setup       Fleet Setup
Suite Teardown    Fleet Teardown
Test Teardown     Device Teardown
Resource          ${RENODEKEYWORDS}
Library           ${CURDIR}/wasmbed.py    ${ROOT}    ${RESULTS}/wasmbed

*** Variables ***
${ROOT}           ${CURDIR}/..
# Where the gateway's and the bridge's logs go (scripts/test-renode.sh's results).
${RESULTS}        ${ROOT}/bin/renode-results

*** Keywords ***
Fleet Setup
    Setup
    Start Gateway

Fleet Teardown
    Teardown
    Stop Gateway

Device Teardown
    Stop Bridges
    Test Teardown

Boot Provisioned
    [Arguments]    ${board}    ${name}    ${console}    ${link}
    ${token}=    Register Device    ${name}    ${board}
    ${elf}=    Provision Image    ${board}    ${name}    ${token}
    ${port}=    Free Port
    Execute Command    mach create "${name}"
    Include Models
    Execute Command    machine LoadPlatformDescription @${ROOT}/renode/${board}.repl
    Execute Command    emulation CreateServerSocketTerminal ${port} "link" false
    Execute Command    connector Connect sysbus.${link} link
    Execute Command    sysbus.${console} CreateFileBackend @${RESULTS}/wasmbed/${name}.console.log true
    # Loaded once, as firmware/emulator does: a reset (the watchdog's, Power Cycle's) keeps
    # the memories, as the part's does; loading the image again would zero its RAM segment,
    # the firmware's .uninit record of the reset and kept identity with it. Renode runs the
    # reset macro after every reset: it starts the core again as the part would, a Cortex-M
    # from the vector table in its flash, a RISC-V core at the image's entry.
    Execute Command    sysbus LoadELF @${elf}
    ${reset}=    Reset Macro    ${elf}
    Execute Command    macro reset "${reset}"
    Create Terminal Tester    sysbus.${console}    timeout=30
    Start Bridge    ${port}
    Start Emulation

Include Models
    # The peripheral models renode/*.repl use beyond Renode's own (nano33ble.repl's UARTE1),
    # compiled by Renode; a second include of the same file is ignored.
    Execute Command    include @${ROOT}/renode/NRF52840_UARTE.cs

Power Cycle
    [Arguments]    ${ram}
    # Renode keeps RAM across a reset: zeroed first, the reset is a power cut (the firmware's
    # RAM-kept identity and reset record are gone; the flash keeps what was written to it).
    Execute Command    pause
    Execute Command    sysbus.${ram} ZeroAll
    # A true RNG gives other numbers after a power cut; Renode's replays its seed after a
    # reset (each core thread's generator starts again from the emulation's seed), so the
    # firmware, RAM zeroed, would draw the same boot id: a new seed, as a power-on gives the
    # silicon new noise.
    ${seed}=    Evaluate    random.randint(1, 2**31 - 1)    modules=random
    Execute Command    emulation SetSeed ${seed}
    Execute Command    machine Reset
    Execute Command    start

Enrolls And Runs An App
    [Arguments]    ${board}    ${name}    ${console}    ${link}    ${ram}    ${app}=sensor    ${memory}=65536
    Boot Provisioned    ${board}    ${name}    ${console}    ${link}
    Wait For Line On Uart    content=board=${board}
    Wait For Line On Uart    config: device ${name} gateway
    Wait For Line On Uart    enroll: TLS up in
    Wait For Line On Uart    enroll: certificate for ${name}
    # The identity goes to flash through the board's flash controller (Renode models the
    # STM32F4's; renode/nano33ble.repl adds the nRF52840's NVMC); a board without one
    # (ram=${None}: riscv32-virt) keeps it in RAM and has no power cut to survive.
    IF    $ram is not None
        Wait For Line On Uart    identity: written to flash
    END
    Wait For Line On Uart    session: mutual TLS up in
    Wait For Line On Uart    session: online as ${name}
    Device Should Be Online    ${name}
    ${module}=    Set Variable    ${app}
    ${app}=    Deploy App    ${module}    ${name}    memory=${memory}
    Wait For Line On Uart    ^app: ${app} generation [0-9]+ running    treatAsRegex=true
    # The sensor publishes values; the blinker (no linear memory, for a board without
    # room for a 64 KiB page) only drives a pin: its calls are counted.
    IF    $module == 'sensor'
        Output Should Arrive    ${app}    ${name}    temperature
    ELSE
        App Should Run    ${app}    ${name}
    END
    IF    $ram is not None
        # After a power cut the identity comes from flash: the session opens with the
        # enrolled certificate (the one-time token is spent), and the gateway, told a new
        # boot by the reset report's boot id, sends the app the device lost again.
        Power Cycle    ${ram}
        Wait For Line On Uart    content=board=${board}
        Wait For Line On Uart    reset: power_on
        Wait For Line On Uart    identity: kept in flash
        Wait For Line On Uart    session: online as ${name}
        Wait For Line On Uart    ^app: ${app} generation [0-9]+ running    treatAsRegex=true
    END

*** Test Cases ***
STM32F4 Discovery Enrolls And Runs An App
    Enrolls And Runs An App    stm32f4-discovery    renode-stm32f4    usart1    usart2    ram=sram

Nano 33 BLE Enrolls And Runs An App
    Enrolls And Runs An App    nano33ble    renode-nano33ble    uart0    uarte1    ram=ram

RISC-V Virt Enrolls And Runs An App
    # No flash controller on the platform: the identity stays in RAM (no power cut).
    Enrolls And Runs An App    riscv32-virt    renode-riscv32-virt    uart0    uart1    ram=${None}

Uno R4 Minima Enrolls And Runs An App
    # 32 KiB of RAM: the TLS session, the identity in RAM (no flash driver: no power cut),
    # an app without linear memory (the blinker), checked by its calls.
    Enrolls And Runs An App    uno-r4    renode-uno-r4    sci2    sci9    ram=${None}    app=blinker    memory=4096
