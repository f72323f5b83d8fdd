// Package agent is the Go device agent: a device that speaks the Wasmbed
// protocol (docs/protocol.md) to a gateway over TLS 1.3 and runs the
// WebAssembly apps the gateway deploys, on wazero (package agent/runtime).
//
// On its first start the agent needs a provisioning bundle (gateway
// addresses, CA root, device name, one-time enrollment token, board). It
// makes its own P-256 key in its state directory (the key never leaves it),
// enrolls over a server-authenticated TLS session, and from then on holds
// mutual-TLS sessions: hello, heartbeats, deploys with resumable module
// transfer, start/stop/remove with generation numbers, app status and
// output, and certificate renewal when two thirds of the certificate's
// lifetime have passed. Its state (key, certificate chain, installed
// modules, per-app generations) persists in the directory, so a restarted
// agent resumes without a new token.
//
// The agent is configured by a Config struct, so tests and the fleet
// simulator (package agent/sim) run many in one process, sharing a
// runtime.Engine.
package agent

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/wasmbed/wasmbed/agent/runtime"
	"github.com/wasmbed/wasmbed/board"
	"github.com/wasmbed/wasmbed/protocol"
)

// Bundle is the provisioning bundle of a device, as the factory (or the
// operator) writes it: JSON.
type Bundle struct {
	// Gateways are "host:port" addresses, tried in order: a device that
	// loses its gateway, or is refused by one (wrong_gateway: it is
	// assigned elsewhere), tries the next (failover.go).
	Gateways []string `json:"gateways"`
	// CARoot is the PEM certificate of the CA that signs gateway and device
	// certificates. CARootFile, relative to the bundle file, may name it instead.
	CARoot     string `json:"ca_root,omitempty"`
	CARootFile string `json:"ca_root_file,omitempty"`
	// ServerName is the name the gateway's certificate must carry; empty
	// means the host of the address dialled.
	ServerName string `json:"server_name,omitempty"`
	// Device is the device name the token was issued for.
	Device string `json:"device"`
	// Token is the one-time enrollment token; TokenExpires, if set, is when
	// the gateway stops accepting it (the agent only uses it to log a clear error).
	Token        string    `json:"token"`
	TokenExpires time.Time `json:"token_expires,omitzero"`
	// Board is the board profile name (board.Names); "linux" for the agent.
	Board string `json:"board"`
}

// LoadBundle reads a bundle file.
func LoadBundle(path string) (*Bundle, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("agent: bundle: %w", err)
	}
	var bu Bundle
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&bu); err != nil {
		return nil, fmt.Errorf("agent: bundle %s: %w", path, err)
	}
	if bu.CARoot == "" && bu.CARootFile != "" {
		f := bu.CARootFile
		if !filepath.IsAbs(f) {
			f = filepath.Join(filepath.Dir(path), f)
		}
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("agent: bundle %s: ca_root_file: %w", path, err)
		}
		bu.CARoot = string(pem)
	}
	if err := bu.Validate(); err != nil {
		return nil, fmt.Errorf("agent: bundle %s: %w", path, err)
	}
	return &bu, nil
}

// Validate checks the bundle's fields (the token may be empty for a device
// that is already enrolled).
func (b *Bundle) Validate() error {
	var errs []error
	if len(b.Gateways) == 0 {
		errs = append(errs, errors.New("no gateways"))
	}
	for _, g := range b.Gateways {
		if _, _, err := net.SplitHostPort(g); err != nil {
			errs = append(errs, fmt.Errorf("gateway %q: %w", g, err))
		}
	}
	if err := protocol.ValidName(b.Device); err != nil {
		errs = append(errs, fmt.Errorf("device: %w", err))
	}
	if _, ok := board.Lookup(b.Board); !ok {
		errs = append(errs, fmt.Errorf("board %q: unknown (known: %v)", b.Board, board.Names()))
	}
	if len(b.Token) > protocol.MaxTokenLen {
		errs = append(errs, fmt.Errorf("token: longer than %d bytes", protocol.MaxTokenLen))
	}
	if _, err := parseCARoot([]byte(b.CARoot)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func parseCARoot(pemBytes []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if len(pemBytes) == 0 || !pool.AppendCertsFromPEM(pemBytes) {
		return nil, errors.New("ca_root: no PEM certificate")
	}
	return pool, nil
}

// Config configures an Agent.
type Config struct {
	// Dir holds the agent's state; created (0700) if missing.
	Dir string
	// Bundle is needed on the first start (to enroll); later starts read
	// what they need from Dir and ignore the bundle's token.
	Bundle *Bundle
	// Firmware is the version string sent in hello.
	Firmware string
	// Engine runs the apps; it may be shared by many agents. Nil: the
	// agent makes its own and closes it when Run returns.
	Engine *runtime.Engine
	// LocalAddr is the source IP for connections to the gateway ("" for any),
	// e.g. one of 127.0.0.x so a simulator's devices come from many addresses.
	LocalAddr string
	Logger    *slog.Logger

	// Reconnection backoff (failover.go): the next gateway of the bundle
	// after at most MinBackoff; once every gateway failed in turn,
	// exponential from MinBackoff to MaxBackoff by such rounds; with jitter
	// (defaults 500 ms, 30 s).
	MinBackoff, MaxBackoff time.Duration
	// DialTimeout bounds the TCP connect and TLS handshake (default 10 s).
	DialTimeout time.Duration
	// HeartbeatMisses: after this many heartbeat periods without an ack the
	// session is closed (default 3).
	HeartbeatMisses int
	// OutputInterval is how often app output is sent (default 500 ms).
	OutputInterval time.Duration
	// RenewFraction of a certificate's lifetime after which it is renewed (default 2/3).
	RenewFraction float64
	// Clock is the device's clock (default time.Now).
	Clock func() time.Time
}

func (c *Config) setDefaults() {
	if c.Firmware == "" {
		c.Firmware = "wasmbed-agent/" + Version
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 500 * time.Millisecond
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(30*time.Second, c.MinBackoff)
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.HeartbeatMisses <= 0 {
		c.HeartbeatMisses = 3
	}
	if c.OutputInterval <= 0 {
		c.OutputInterval = 500 * time.Millisecond
	}
	if c.RenewFraction <= 0 || c.RenewFraction >= 1 {
		c.RenewFraction = 2.0 / 3
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
}

// Version is the agent's version, reported in hello's firmware field.
const Version = "0.1.0"
