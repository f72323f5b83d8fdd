package protocol

import (
	"slices"
	"strconv"
)

// ABIVersion is the version of the `wasmbed` host ABI this protocol revision
// describes in Hello.ABIVersion (docs/abi.md).
const ABIVersion = 1

// Type identifies a message. The numbers are part of the wire format: never
// reuse or renumber one.
type Type uint8

// Message types, in the order docs/protocol.md lists them.
const (
	TypeHello            Type = 1  // device -> gateway, first message of every session
	TypeWelcome          Type = 2  // gateway -> device, answers Hello
	TypeEnroll           Type = 3  // device -> gateway, CSR + one-time token
	TypeCertificate      Type = 4  // gateway -> device, answers Enroll and Renew
	TypeRenew            Type = 5  // device -> gateway, new CSR over a mutual-TLS session
	TypeHeartbeat        Type = 6  // device -> gateway
	TypeHeartbeatAck     Type = 7  // gateway -> device, answers Heartbeat
	TypeDeploy           Type = 8  // gateway -> device, install (or resume installing) a module
	TypeModuleChunk      Type = 9  // gateway -> device, module bytes at an offset
	TypeTransferProgress Type = 10 // device -> gateway, bytes held so far (the resume offset)
	TypeStart            Type = 11 // gateway -> device
	TypeStop             Type = 12 // gateway -> device
	TypeRemove           Type = 13 // gateway -> device
	TypeAppStatus        Type = 14 // device -> gateway, an app's state changed or a command was applied
	TypeAppOutput        Type = 15 // device -> gateway, log lines and published values
	TypeError            Type = 16 // either way, a request could not be served
)

// Message is the body of one protocol message.
type Message interface {
	// Type is the message's wire type.
	Type() Type
	// Validate reports field values outside what the protocol allows. Marshal
	// and Unmarshal both call it, so a peer never sends or accepts such a value.
	Validate() error
}

// AppState is the lifecycle state of an app on a device.
type AppState uint8

// App states. Trapped, FuelExhausted and OutOfMemory are the runtime's three
// ways of stopping an app that misbehaves; Failed covers a module that could not
// be installed (checksum mismatch, does not instantiate, no room).
const (
	AppStateUnknown       AppState = 0
	AppStateDownloading   AppState = 1
	AppStateInstalled     AppState = 2
	AppStateRunning       AppState = 3
	AppStateStopped       AppState = 4
	AppStateTrapped       AppState = 5
	AppStateFuelExhausted AppState = 6
	AppStateOutOfMemory   AppState = 7
	AppStateRemoved       AppState = 8
	AppStateFailed        AppState = 9
)

var appStateNames = [...]string{
	"unknown", "downloading", "installed", "running", "stopped",
	"trapped", "fuel_exhausted", "out_of_memory", "removed", "failed",
}

func (s AppState) String() string {
	if int(s) < len(appStateNames) {
		return appStateNames[s]
	}
	return "app_state(" + strconv.FormatUint(uint64(s), 10) + ")"
}

// ResetCause says why a device last reset, as its Hello reports it.
type ResetCause uint8

// Reset causes. Watchdog, Panic, HardFault and BrownOut are unexpected: the
// firmware did not choose to reset.
const (
	ResetUnknown   ResetCause = 0
	ResetPowerOn   ResetCause = 1 // power applied (boots counts from here)
	ResetRequested ResetCause = 2 // the firmware reset itself on purpose (an update, a command)
	ResetPin       ResetCause = 3 // the external reset pin
	ResetWatchdog  ResetCause = 4 // the watchdog was not fed in time
	ResetPanic     ResetCause = 5 // the firmware panicked
	ResetHardFault ResetCause = 6 // a CPU fault (bad memory access, undefined instruction)
	ResetBrownOut  ResetCause = 7 // the supply voltage dropped
)

var resetCauseNames = [...]string{
	"unknown", "power_on", "requested", "pin", "watchdog", "panic", "hard_fault", "brown_out",
}

func (c ResetCause) String() string {
	if int(c) < len(resetCauseNames) {
		return resetCauseNames[c]
	}
	return "reset_cause(" + strconv.FormatUint(uint64(c), 10) + ")"
}

// Unexpected reports whether the cause is one the firmware did not choose:
// watchdog, panic, hard fault or brown-out.
func (c ResetCause) Unexpected() bool {
	switch c {
	case ResetWatchdog, ResetPanic, ResetHardFault, ResetBrownOut:
		return true
	}
	return false
}

// SafeModeAfter is how many unexpected resets in a row send a device into
// safe mode (see docs/protocol.md, "Resets and safe mode").
const SafeModeAfter = 3

// LogLevel is the severity of an app's log line.
type LogLevel uint8

// Log levels, as the host ABI's log function takes them.
const (
	LogError LogLevel = 1
	LogWarn  LogLevel = 2
	LogInfo  LogLevel = 3
	LogDebug LogLevel = 4
)

// ErrorCode says why a request failed; it travels in an Error message.
type ErrorCode uint16

// Error codes.
const (
	CodeMalformed       ErrorCode = 1  // the frame or its CBOR could not be decoded
	CodeUnsupported     ErrorCode = 2  // unknown message type or frame version
	CodeUnauthorized    ErrorCode = 3  // enrollment token unknown, used, expired or for another device
	CodeForbidden       ErrorCode = 4  // not allowed in this session (e.g. Deploy before enrollment)
	CodeInvalid         ErrorCode = 5  // a field is out of range
	CodeStaleGeneration ErrorCode = 6  // a command older than what the device already applied
	CodeNoRoom          ErrorCode = 7  // the module or its memory does not fit the device
	CodeChecksum        ErrorCode = 8  // the transferred module does not match its sha256
	CodeNotFound        ErrorCode = 9  // no such app on the device
	CodeRevoked         ErrorCode = 10 // the device's certificate was revoked; the gateway closes the session
	CodeBusy            ErrorCode = 11 // try again later
	CodeInternal        ErrorCode = 12 // a fault on the sender's side
	// CodeWrongGateway: this gateway does not serve the device (Kubernetes
	// mode: the device is assigned to another gateway, or to none yet); the
	// device tries the next gateway of its bundle at once.
	CodeWrongGateway ErrorCode = 13
)

var errorCodeNames = [...]string{"", "malformed", "unsupported", "unauthorized", "forbidden", "invalid",
	"stale_generation", "no_room", "checksum", "not_found", "revoked", "busy", "internal", "wrong_gateway"}

func (c ErrorCode) String() string {
	if int(c) < len(errorCodeNames) && c != 0 {
		return errorCodeNames[c]
	}
	return "error_code(" + strconv.FormatUint(uint64(c), 10) + ")"
}

// CrashedPrefix starts the Detail of an app a device reports Failed because it
// was running or being installed when the device reset unexpectedly
// ("crashed: watchdog in tick").
const CrashedPrefix = "crashed: "

// ReplacedPrefix starts the Detail of the app_status (state downloading) a device
// sends when it cannot hold two versions of an app: it stopped and removed the
// running version before receiving the new one, so a failed install leaves no
// version running ("replaced: no room for two versions").
const ReplacedPrefix = "replaced: "

// AppReport is what a device says of one installed app in its Hello. An app
// that was running or being installed when the device reset unexpectedly is
// reported Failed, with a Detail starting with CrashedPrefix.
type AppReport struct {
	App        string   `cbor:"1,keyasint" json:"app"`
	Version    string   `cbor:"2,keyasint" json:"version"`
	Generation uint64   `cbor:"3,keyasint" json:"generation"`
	State      AppState `cbor:"4,keyasint" json:"state"`
	SHA256     []byte   `cbor:"5,keyasint" json:"sha256"`
	Detail     string   `cbor:"6,keyasint,omitempty" json:"detail,omitempty"` // why the app is in its state
}

// ResetReport is what a device says in its Hello of its last reset.
type ResetReport struct {
	Cause  ResetCause `cbor:"1,keyasint" json:"cause"`
	Detail string     `cbor:"2,keyasint,omitempty" json:"detail,omitempty"` // e.g. the panic message, the app that ran
	// Boots counts boots since the last power-on, this one included (at least 1).
	Boots uint32 `cbor:"3,keyasint" json:"boots"`
	// Unexpected counts unexpected resets in a row without a stable period
	// in between; 0 when the last reset was expected.
	Unexpected uint32 `cbor:"4,keyasint" json:"unexpected"`
	// SafeMode: the device booted in safe mode (SafeModeAfter unexpected
	// resets in a row): it runs no app until a newer generation arrives.
	SafeMode bool `cbor:"5,keyasint,omitempty" json:"safe_mode,omitempty"`
	// BootID tells boots apart: a number the device picks at random (from
	// its entropy source) at each boot, never 0. Two power-on boots report
	// the same cause and boot count; only their boot ids differ. 0: the
	// device does not say (older firmware), left out of the encoding.
	BootID uint32 `cbor:"6,keyasint,omitempty" json:"boot_id,omitempty"`
}

// Hello opens every session, enrollment sessions included: what the device is
// and what it can take. In a mutual-TLS session the device's identity is its
// certificate, never a field of this message.
type Hello struct {
	ABIVersion uint32      `cbor:"1,keyasint" json:"abi_version"`
	Board      string      `cbor:"2,keyasint" json:"board"`
	Firmware   string      `cbor:"3,keyasint" json:"firmware"`
	RAMFree    uint32      `cbor:"4,keyasint" json:"ram_free"`   // bytes available to apps
	FlashFree  uint32      `cbor:"5,keyasint" json:"flash_free"` // bytes available for modules
	MaxFrame   uint32      `cbor:"6,keyasint" json:"max_frame"`  // largest frame payload the device accepts
	Features   []string    `cbor:"7,keyasint" json:"features"`   // host ABI features: log, time, gpio, publish, config
	Apps       []AppReport `cbor:"8,keyasint,omitempty" json:"apps,omitempty"`
	// Reset is why the device last reset; nil from devices that do not say.
	Reset *ResetReport `cbor:"9,keyasint,omitempty" json:"reset,omitempty"`
}

// Welcome answers Hello. Devices without a clock take the time from it.
type Welcome struct {
	Device      string `cbor:"1,keyasint" json:"device"` // name from the client certificate; empty in an enrollment session
	Time        int64  `cbor:"2,keyasint" json:"time"`   // gateway clock, Unix milliseconds
	HeartbeatMS uint32 `cbor:"3,keyasint" json:"heartbeat_ms"`
	MaxFrame    uint32 `cbor:"4,keyasint" json:"max_frame"` // largest frame payload the gateway accepts
	Gateway     string `cbor:"5,keyasint" json:"gateway"`
}

// Enroll asks for a first certificate: a PKCS#10 CSR for a key the device made
// itself, and the one-time token from its provisioning bundle.
type Enroll struct {
	Device string `cbor:"1,keyasint" json:"device"`
	Token  string `cbor:"2,keyasint" json:"token"`
	CSR    []byte `cbor:"3,keyasint" json:"csr"` // DER
}

// Certificate answers Enroll and Renew with the signed chain.
type Certificate struct {
	Chain    [][]byte `cbor:"1,keyasint" json:"chain"`     // DER, leaf first
	NotAfter int64    `cbor:"2,keyasint" json:"not_after"` // leaf expiry, Unix milliseconds
}

// Renew asks, over an established mutual-TLS session, for a new certificate.
type Renew struct {
	CSR []byte `cbor:"1,keyasint" json:"csr"` // DER
}

// Heartbeat tells the gateway the device is alive, and what its runtime
// measured of each installed app.
type Heartbeat struct {
	Seq      uint64 `cbor:"1,keyasint" json:"seq"`
	UptimeMS uint64 `cbor:"2,keyasint" json:"uptime_ms"`
	RAMFree  uint32 `cbor:"3,keyasint" json:"ram_free"`
	// Apps: one record per installed app, from devices that measure them
	// (an older device leaves it out).
	Apps []AppMetrics `cbor:"4,keyasint,omitempty" json:"apps,omitempty"`
}

// AppMetrics is what a device's runtime measured of one app. The counters
// count from the install of this generation on this boot: they start again
// at 0 after a reset or a new generation.
type AppMetrics struct {
	App        string `cbor:"1,keyasint" json:"app"`
	Generation uint64 `cbor:"2,keyasint" json:"generation"`
	// Calls counts init and tick calls.
	Calls uint64 `cbor:"3,keyasint" json:"calls"`
	// Fuel is the fuel those calls used; 0 from a runtime that does not
	// meter instructions (the Go agent).
	Fuel uint64 `cbor:"4,keyasint" json:"fuel"`
	// CallUS is the time spent in those calls, microseconds.
	CallUS uint64 `cbor:"5,keyasint" json:"call_us"`
	// Traps counts the times the runtime stopped the app: a trap, its fuel
	// used up, its memory limit reached.
	Traps uint64 `cbor:"6,keyasint" json:"traps"`
	// Memory is the app's linear memory now (0 when it is not running);
	// MemoryPeak the most it had, in bytes.
	Memory     uint32 `cbor:"7,keyasint" json:"memory"`
	MemoryPeak uint32 `cbor:"8,keyasint" json:"memory_peak"`
	// Starts counts instantiations; InstantiateUS is how long the last one
	// took, microseconds.
	Starts        uint64 `cbor:"9,keyasint" json:"starts"`
	InstantiateUS uint32 `cbor:"10,keyasint" json:"instantiate_us"`
	// Published counts the values the app published (accepted by publish).
	Published uint64 `cbor:"11,keyasint" json:"published"`
}

// HeartbeatAck answers Heartbeat.
type HeartbeatAck struct {
	Seq  uint64 `cbor:"1,keyasint" json:"seq"`
	Time int64  `cbor:"2,keyasint" json:"time"` // gateway clock, Unix milliseconds
}

// Limits bound what one app may use on the device.
type Limits struct {
	Fuel   uint64 `cbor:"1,keyasint" json:"fuel"`    // instructions per init or tick call
	Memory uint32 `cbor:"2,keyasint" json:"memory"`  // bytes of linear memory
	TickMS uint32 `cbor:"3,keyasint" json:"tick_ms"` // period of the tick export
}

// Deploy tells a device to install a module version. The device answers with
// TransferProgress giving the bytes it already holds for this app, generation
// and sha256 (0 for a fresh transfer), and the gateway sends ModuleChunks from
// there. Sending the same Deploy again after a reconnect resumes the transfer.
type Deploy struct {
	App        string            `cbor:"1,keyasint" json:"app"`
	Generation uint64            `cbor:"2,keyasint" json:"generation"`
	Version    string            `cbor:"3,keyasint" json:"version"`
	SHA256     []byte            `cbor:"4,keyasint" json:"sha256"`
	Size       uint32            `cbor:"5,keyasint" json:"size"`
	Limits     Limits            `cbor:"6,keyasint" json:"limits"`
	Config     map[string]string `cbor:"7,keyasint,omitempty" json:"config,omitempty"`
	Start      bool              `cbor:"8,keyasint" json:"start"` // start the app once installed
}

// ModuleChunk carries module bytes [Offset, Offset+len(Data)).
type ModuleChunk struct {
	App        string `cbor:"1,keyasint" json:"app"`
	Generation uint64 `cbor:"2,keyasint" json:"generation"`
	Offset     uint32 `cbor:"3,keyasint" json:"offset"`
	Data       []byte `cbor:"4,keyasint" json:"data"`
}

// TransferProgress reports how many bytes of a module the device holds: the
// offset the next chunk must start at.
type TransferProgress struct {
	App        string `cbor:"1,keyasint" json:"app"`
	Generation uint64 `cbor:"2,keyasint" json:"generation"`
	Offset     uint32 `cbor:"3,keyasint" json:"offset"`
}

// AppCommand is the body shared by Start, Stop and Remove.
type AppCommand struct {
	App        string `cbor:"1,keyasint" json:"app"`
	Generation uint64 `cbor:"2,keyasint" json:"generation"`
}

// Start runs an installed app.
type Start AppCommand

// Stop halts a running app and keeps it installed.
type Stop AppCommand

// Remove stops an app and deletes its module.
type Remove AppCommand

// AppStatus reports an app's state: after each command it applied, and on its
// own when the runtime stops an app (trap, fuel, memory).
type AppStatus struct {
	App        string   `cbor:"1,keyasint" json:"app"`
	Generation uint64   `cbor:"2,keyasint" json:"generation"`
	State      AppState `cbor:"3,keyasint" json:"state"`
	Version    string   `cbor:"4,keyasint" json:"version"`
	Detail     string   `cbor:"5,keyasint,omitempty" json:"detail,omitempty"` // why, for trapped/failed states
}

// LogRecord is one line an app logged.
type LogRecord struct {
	Time  int64    `cbor:"1,keyasint" json:"time"` // Unix milliseconds (device clock, set from Welcome)
	Level LogLevel `cbor:"2,keyasint" json:"level"`
	Text  string   `cbor:"3,keyasint" json:"text"`
}

// ValueRecord is one value an app published.
type ValueRecord struct {
	Time  int64   `cbor:"1,keyasint" json:"time"` // Unix milliseconds
	Key   string  `cbor:"2,keyasint" json:"key"`
	Value float64 `cbor:"3,keyasint" json:"value"`
}

// AppOutput carries what an app logged and published since the last one. Seq
// counts AppOutput messages per app so the gateway can drop a repeat.
type AppOutput struct {
	App    string        `cbor:"1,keyasint" json:"app"`
	Seq    uint64        `cbor:"2,keyasint" json:"seq"`
	Logs   []LogRecord   `cbor:"3,keyasint,omitempty" json:"logs,omitempty"`
	Values []ValueRecord `cbor:"4,keyasint,omitempty" json:"values,omitempty"`
}

// Error says a request failed; its envelope carries the request id it answers.
type Error struct {
	Code    ErrorCode `cbor:"1,keyasint" json:"code"`
	Message string    `cbor:"2,keyasint" json:"message"`
	// Gateways, with CodeWrongGateway, are the device addresses (host:port)
	// of the gateway that serves the device, when this gateway knows them:
	// a device whose bundle lists one goes there next. Optional.
	Gateways []string `cbor:"3,keyasint,omitempty" json:"gateways,omitempty"`
}

// MaxErrorGateways bounds Error.Gateways (a gateway registers at most 16
// addresses).
const MaxErrorGateways = 16

func (*Hello) Type() Type            { return TypeHello }
func (*Welcome) Type() Type          { return TypeWelcome }
func (*Enroll) Type() Type           { return TypeEnroll }
func (*Certificate) Type() Type      { return TypeCertificate }
func (*Renew) Type() Type            { return TypeRenew }
func (*Heartbeat) Type() Type        { return TypeHeartbeat }
func (*HeartbeatAck) Type() Type     { return TypeHeartbeatAck }
func (*Deploy) Type() Type           { return TypeDeploy }
func (*ModuleChunk) Type() Type      { return TypeModuleChunk }
func (*TransferProgress) Type() Type { return TypeTransferProgress }
func (*Start) Type() Type            { return TypeStart }
func (*Stop) Type() Type             { return TypeStop }
func (*Remove) Type() Type           { return TypeRemove }
func (*AppStatus) Type() Type        { return TypeAppStatus }
func (*AppOutput) Type() Type        { return TypeAppOutput }
func (*Error) Type() Type            { return TypeError }

// Error makes *Error usable as a Go error on the side that receives it.
func (e *Error) Error() string {
	return "peer error " + strconv.FormatUint(uint64(e.Code), 10) + ": " + e.Message
}

// messageTypes maps each wire type to its name (used in JSON and logs) and a
// constructor for its body. It is the one list of message types.
var messageTypes = map[Type]struct {
	name string
	new  func() Message
}{
	TypeHello:            {"hello", func() Message { return new(Hello) }},
	TypeWelcome:          {"welcome", func() Message { return new(Welcome) }},
	TypeEnroll:           {"enroll", func() Message { return new(Enroll) }},
	TypeCertificate:      {"certificate", func() Message { return new(Certificate) }},
	TypeRenew:            {"renew", func() Message { return new(Renew) }},
	TypeHeartbeat:        {"heartbeat", func() Message { return new(Heartbeat) }},
	TypeHeartbeatAck:     {"heartbeat_ack", func() Message { return new(HeartbeatAck) }},
	TypeDeploy:           {"deploy", func() Message { return new(Deploy) }},
	TypeModuleChunk:      {"module_chunk", func() Message { return new(ModuleChunk) }},
	TypeTransferProgress: {"transfer_progress", func() Message { return new(TransferProgress) }},
	TypeStart:            {"start", func() Message { return new(Start) }},
	TypeStop:             {"stop", func() Message { return new(Stop) }},
	TypeRemove:           {"remove", func() Message { return new(Remove) }},
	TypeAppStatus:        {"app_status", func() Message { return new(AppStatus) }},
	TypeAppOutput:        {"app_output", func() Message { return new(AppOutput) }},
	TypeError:            {"error", func() Message { return new(Error) }},
}

// Types returns every message type, in wire-number order.
func Types() []Type {
	out := make([]Type, 0, len(messageTypes))
	for t := range messageTypes {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

func (t Type) String() string {
	if mt, ok := messageTypes[t]; ok {
		return mt.name
	}
	return "type(" + strconv.FormatUint(uint64(t), 10) + ")"
}

// ParseType is the inverse of Type.String for known types.
func ParseType(name string) (Type, bool) {
	for t, mt := range messageTypes {
		if mt.name == name {
			return t, true
		}
	}
	return 0, false
}
