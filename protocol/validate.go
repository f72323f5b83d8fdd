package protocol

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Field limits. docs/protocol.md lists the same numbers.
const (
	MaxNameLen     = 64   // device, app, board and feature names, config keys, value keys
	MaxTextLen     = 256  // log lines, details, error messages, config values, firmware strings
	MaxTokenLen    = 256  // enrollment token
	MaxDERLen      = 4096 // one CSR or one certificate
	MaxChainLen    = 4    // certificates in a chain
	MaxApps        = 32   // apps in a Hello
	MaxFeatures    = 32   // features in a Hello
	MaxConfigPairs = 64   // entries of a Deploy's config
	MaxRecords     = 64   // log lines, and values, in one AppOutput
	// MinFrameSize is the smallest max_frame a peer may announce. It holds
	// the gateway's certificate answer whole: the embedded CA's chain (a
	// P-256 leaf for a 64-byte device name and its intermediate) is a
	// 1,107-byte message, and a TLS client buffers the gateway's own
	// Certificate handshake message (about 1 KB) anyway.
	MinFrameSize = 2048
)

// ValidName reports whether s may name a device, app, board, feature or key:
// 1 to MaxNameLen bytes of ASCII letters, digits, '.', '_' and '-', starting
// with a letter or digit. Names end up in certificate subjects, URLs and logs,
// so they are kept plain.
func ValidName(s string) error { return plainText("name", s, "._-") }

// ValidVersion reports whether s may be a module version: like a name, with
// '+' also allowed (semantic versions with build metadata).
func ValidVersion(s string) error { return plainText("version", s, "._-+") }

func plainText(what, s, punct string) error {
	if s == "" {
		return fmt.Errorf("empty %s", what)
	}
	if len(s) > MaxNameLen {
		return fmt.Errorf("%s %.16q... longer than %d bytes", what, s, MaxNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || strings.IndexByte(punct, c) < 0) {
			return fmt.Errorf("%s %q: character %q at %d not allowed (letters, digits and %q; first a letter or digit)", what, s, c, i, punct)
		}
	}
	return nil
}

// ClipText cuts s to MaxTextLen bytes at a character boundary, for a text
// field (an error's message, a detail) that carries a longer explanation.
func ClipText(s string) string {
	n := MaxTextLen
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

func field(name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", name, err)
}

func maxLen(name string, n, limit int) error {
	if n > limit {
		return fmt.Errorf("%s: %d bytes, limit %d", name, n, limit)
	}
	return nil
}

func nonEmptyMax(name string, n, limit int) error {
	if n == 0 {
		return fmt.Errorf("%s: empty", name)
	}
	return maxLen(name, n, limit)
}

func sha256Len(b []byte) error {
	if len(b) != 32 {
		return fmt.Errorf("sha256: %d bytes, want 32", len(b))
	}
	return nil
}

func frameSize(name string, n uint32) error {
	if n < MinFrameSize || n > MaxFrameSize {
		return fmt.Errorf("%s: %d outside [%d, %d]", name, n, MinFrameSize, MaxFrameSize)
	}
	return nil
}

func generation(g uint64) error {
	if g == 0 {
		return errors.New("generation: must be at least 1")
	}
	return nil
}

func (s AppState) valid() error {
	if int(s) >= len(appStateNames) {
		return fmt.Errorf("state: %d not assigned", s)
	}
	return nil
}

func (a *AppReport) validate() error {
	return errors.Join(field("app", ValidName(a.App)), field("version", ValidVersion(a.Version)),
		a.State.valid(), sha256Len(a.SHA256), maxLen("detail", len(a.Detail), MaxTextLen))
}

func (r *ResetReport) validate() error {
	errs := []error{maxLen("detail", len(r.Detail), MaxTextLen)}
	if int(r.Cause) >= len(resetCauseNames) {
		errs = append(errs, fmt.Errorf("cause: %d not assigned", r.Cause))
	}
	if r.Boots == 0 {
		errs = append(errs, errors.New("boots: must be at least 1"))
	}
	return errors.Join(errs...)
}

func (m *Hello) Validate() error {
	errs := []error{field("board", ValidName(m.Board)), maxLen("firmware", len(m.Firmware), MaxTextLen),
		frameSize("max_frame", m.MaxFrame)}
	if m.ABIVersion == 0 {
		errs = append(errs, errors.New("abi_version: must be at least 1"))
	}
	if len(m.Features) > MaxFeatures {
		errs = append(errs, fmt.Errorf("features: %d, limit %d", len(m.Features), MaxFeatures))
	}
	for _, f := range m.Features {
		errs = append(errs, field("feature", ValidName(f)))
	}
	if len(m.Apps) > MaxApps {
		errs = append(errs, fmt.Errorf("apps: %d, limit %d", len(m.Apps), MaxApps))
	}
	for i := range m.Apps {
		errs = append(errs, field(fmt.Sprintf("apps[%d]", i), m.Apps[i].validate()))
	}
	if m.Reset != nil {
		errs = append(errs, field("reset", m.Reset.validate()))
	}
	return errors.Join(errs...)
}

func (m *Welcome) Validate() error {
	var errs []error
	if m.Device != "" {
		errs = append(errs, field("device", ValidName(m.Device)))
	}
	if m.HeartbeatMS == 0 {
		errs = append(errs, errors.New("heartbeat_ms: must be positive"))
	}
	return errors.Join(append(errs, frameSize("max_frame", m.MaxFrame), field("gateway", ValidName(m.Gateway)))...)
}

func (m *Enroll) Validate() error {
	return errors.Join(field("device", ValidName(m.Device)), nonEmptyMax("token", len(m.Token), MaxTokenLen),
		nonEmptyMax("csr", len(m.CSR), MaxDERLen))
}

func (m *Certificate) Validate() error {
	if len(m.Chain) == 0 || len(m.Chain) > MaxChainLen {
		return fmt.Errorf("chain: %d certificates, want 1 to %d", len(m.Chain), MaxChainLen)
	}
	var errs []error
	for i, c := range m.Chain {
		errs = append(errs, nonEmptyMax(fmt.Sprintf("chain[%d]", i), len(c), MaxDERLen))
	}
	return errors.Join(errs...)
}

func (m *Renew) Validate() error { return nonEmptyMax("csr", len(m.CSR), MaxDERLen) }

func (m *Heartbeat) Validate() error {
	if len(m.Apps) > MaxApps {
		return fmt.Errorf("apps: %d, limit %d", len(m.Apps), MaxApps)
	}
	var errs []error
	seen := make(map[string]bool, len(m.Apps))
	for i := range m.Apps {
		a := &m.Apps[i]
		errs = append(errs, field(fmt.Sprintf("apps[%d]", i), a.validate()))
		if seen[a.App] {
			errs = append(errs, fmt.Errorf("apps[%d]: app %q twice", i, a.App))
		}
		seen[a.App] = true
	}
	return errors.Join(errs...)
}

func (a *AppMetrics) validate() error {
	return errors.Join(field("app", ValidName(a.App)), generation(a.Generation))
}

func (m *HeartbeatAck) Validate() error { return nil }

func (m *Deploy) Validate() error {
	errs := []error{field("app", ValidName(m.App)), generation(m.Generation), field("version", ValidVersion(m.Version)),
		sha256Len(m.SHA256)}
	if m.Size == 0 {
		errs = append(errs, errors.New("size: must be positive"))
	}
	if m.Limits.Fuel == 0 || m.Limits.Memory == 0 {
		errs = append(errs, errors.New("limits: fuel and memory must be positive"))
	}
	if len(m.Config) > MaxConfigPairs {
		errs = append(errs, fmt.Errorf("config: %d entries, limit %d", len(m.Config), MaxConfigPairs))
	}
	for k, v := range m.Config {
		errs = append(errs, field("config key", ValidName(k)), maxLen("config["+k+"]", len(v), MaxTextLen))
	}
	return errors.Join(errs...)
}

func (m *ModuleChunk) Validate() error {
	return errors.Join(field("app", ValidName(m.App)), generation(m.Generation),
		nonEmptyMax("data", len(m.Data), MaxFrameSize))
}

func (m *TransferProgress) Validate() error {
	return errors.Join(field("app", ValidName(m.App)), generation(m.Generation))
}

func (m *AppCommand) validate() error {
	return errors.Join(field("app", ValidName(m.App)), generation(m.Generation))
}

func (m *Start) Validate() error  { return (*AppCommand)(m).validate() }
func (m *Stop) Validate() error   { return (*AppCommand)(m).validate() }
func (m *Remove) Validate() error { return (*AppCommand)(m).validate() }

func (m *AppStatus) Validate() error {
	errs := []error{field("app", ValidName(m.App)), m.State.valid(), maxLen("detail", len(m.Detail), MaxTextLen)}
	if m.Version != "" {
		errs = append(errs, field("version", ValidVersion(m.Version)))
	}
	return errors.Join(errs...)
}

func (m *AppOutput) Validate() error {
	errs := []error{field("app", ValidName(m.App))}
	if len(m.Logs) > MaxRecords || len(m.Values) > MaxRecords {
		errs = append(errs, fmt.Errorf("records: %d logs and %d values, limit %d each", len(m.Logs), len(m.Values), MaxRecords))
	}
	for i, l := range m.Logs {
		if l.Level < LogError || l.Level > LogDebug {
			errs = append(errs, fmt.Errorf("logs[%d].level: %d not assigned", i, l.Level))
		}
		errs = append(errs, maxLen(fmt.Sprintf("logs[%d].text", i), len(l.Text), MaxTextLen))
	}
	for i, v := range m.Values {
		errs = append(errs, field(fmt.Sprintf("values[%d].key", i), ValidName(v.Key)))
		if math.IsNaN(v.Value) || math.IsInf(v.Value, 0) {
			errs = append(errs, fmt.Errorf("values[%d].value: not a finite number", i))
		}
	}
	return errors.Join(errs...)
}

func (m *Error) Validate() error {
	errs := []error{maxLen("message", len(m.Message), MaxTextLen)}
	if m.Code == 0 {
		errs = append(errs, errors.New("code: must be set"))
	}
	if len(m.Gateways) > MaxErrorGateways {
		errs = append(errs, fmt.Errorf("gateways: more than %d", MaxErrorGateways))
	}
	for i, g := range m.Gateways {
		errs = append(errs, maxLen(fmt.Sprintf("gateways[%d]", i), len(g), MaxTextLen))
	}
	return errors.Join(errs...)
}
