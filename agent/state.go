package agent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/wasmbed/wasmbed/protocol"
)

// The state directory:
//
//	identity.pem   0600  the device's P-256 key (PKCS#8), then its certificate chain once enrolled
//	state.json     0600  device, gateways, CA root, generations, installed apps, transfers
//	modules/<sha256>.wasm      installed modules
//	modules/<app>.<gen>.part   a transfer in progress (its size is the resume offset)
const (
	identityFile = "identity.pem"
	stateFile    = "state.json"
	modulesDir   = "modules"
)

// state is what survives a restart.
type state struct {
	Device     string   `json:"device"`
	Board      string   `json:"board"`
	Gateways   []string `json:"gateways"`
	ServerName string   `json:"server_name,omitempty"`
	CARoot     string   `json:"ca_root"`
	// Boots counts starts; app_output sequence numbers start at Boots<<32 so
	// they grow across restarts without a write per message.
	Boots uint64 `json:"boots"`
	// Generations is the highest generation applied per app, removed apps included.
	Generations map[string]uint64     `json:"generations"`
	Apps        map[string]*appRecord `json:"apps"`
	Transfers   map[string]*transfer  `json:"transfers"`
}

// appRecord is an installed app.
type appRecord struct {
	App        string            `json:"app"`
	Version    string            `json:"version"`
	Generation uint64            `json:"generation"` // of the deploy that installed it
	SHA256     string            `json:"sha256"`     // hex
	Size       uint32            `json:"size"`
	Limits     protocol.Limits   `json:"limits"`
	Config     map[string]string `json:"config,omitempty"`
	// Running: the app should run (it was started and not stopped, by a
	// command or by the runtime); a restarted agent starts it again.
	Running bool              `json:"running"`
	State   protocol.AppState `json:"state"` // last state reported
	Detail  string            `json:"detail,omitempty"`
}

// transfer is a module being received.
type transfer struct {
	App        string            `json:"app"`
	Generation uint64            `json:"generation"`
	Version    string            `json:"version"`
	SHA256     string            `json:"sha256"` // hex
	Size       uint32            `json:"size"`
	Limits     protocol.Limits   `json:"limits"`
	Config     map[string]string `json:"config,omitempty"`
	Start      bool              `json:"start"`
	Offset     uint32            `json:"-"` // the part file's size
	deployID   uint64            // request id of the deploy to answer, this session
}

func (t *transfer) partPath(dir string) string {
	return filepath.Join(dir, modulesDir, fmt.Sprintf("%s.%d.part", t.App, t.Generation))
}

func modulePath(dir, sha string) string { return filepath.Join(dir, modulesDir, sha+".wasm") }

func loadState(dir string) (*state, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, err
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", stateFile, err)
	}
	if s.Generations == nil {
		s.Generations = map[string]uint64{}
	}
	if s.Apps == nil {
		s.Apps = map[string]*appRecord{}
	}
	if s.Transfers == nil {
		s.Transfers = map[string]*transfer{}
	}
	for _, t := range s.Transfers {
		fi, err := os.Stat(t.partPath(dir))
		switch {
		case err == nil && fi.Size() <= int64(t.Size):
			t.Offset = uint32(fi.Size())
		case err == nil: // longer than the module: start over
			_ = os.Remove(t.partPath(dir))
		case !errors.Is(err, fs.ErrNotExist):
			return nil, err
		}
	}
	return &s, nil
}

// save writes the state atomically.
func (s *state) save(dir string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, stateFile), b, 0o600)
}

// writeFileAtomic writes via a temporary file, fsync and rename, so a crash
// leaves the old or the new content.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// identity is the device's key and, once enrolled, its certificate chain.
type identity struct {
	key   *ecdsa.PrivateKey
	chain [][]byte          // DER, leaf first; empty before enrollment
	leaf  *x509.Certificate // parsed chain[0]
}

func newKey() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

func loadIdentity(dir string) (*identity, error) {
	b, err := os.ReadFile(filepath.Join(dir, identityFile))
	if err != nil {
		return nil, err
	}
	id := &identity{}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		switch blk.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: key: %w", identityFile, err)
			}
			ek, ok := k.(*ecdsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("%s: key is %T, want ECDSA P-256", identityFile, k)
			}
			id.key = ek
		case "CERTIFICATE":
			id.chain = append(id.chain, blk.Bytes)
		}
	}
	if id.key == nil {
		return nil, fmt.Errorf("%s: no private key", identityFile)
	}
	if len(id.chain) > 0 {
		if id.leaf, err = x509.ParseCertificate(id.chain[0]); err != nil {
			return nil, fmt.Errorf("%s: certificate: %w", identityFile, err)
		}
	}
	return id, nil
}

// save writes key and chain in one file (0600), atomically: a renewal never
// leaves a key without its certificate.
func (id *identity) save(dir string) error {
	der, err := x509.MarshalPKCS8PrivateKey(id.key)
	if err != nil {
		return err
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	for _, c := range id.chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c})...)
	}
	return writeFileAtomic(filepath.Join(dir, identityFile), out, 0o600)
}

func (id *identity) enrolled() bool { return id.leaf != nil }

func (id *identity) tlsCertificate() tls.Certificate {
	return tls.Certificate{Certificate: id.chain, PrivateKey: id.key, Leaf: id.leaf}
}

// csr makes a PKCS#10 request for key, naming the device.
func csr(key *ecdsa.PrivateKey, device string) ([]byte, error) {
	return x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: device},
	}, key)
}

// acceptChain checks a chain the gateway sent: it certifies key, names the
// device, and chains to the CA root for client authentication.
func acceptChain(chain [][]byte, key *ecdsa.PrivateKey, device string, roots *x509.CertPool) (*x509.Certificate, error) {
	if len(chain) == 0 {
		return nil, errors.New("empty chain")
	}
	certs := make([]*x509.Certificate, len(chain))
	for i, der := range chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", i, err)
		}
		certs[i] = c
	}
	leaf := certs[0]
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, errors.New("the certificate is not for this device's key")
	}
	if leaf.Subject.CommonName != device {
		return nil, fmt.Errorf("the certificate names %q, not %q", leaf.Subject.CommonName, device)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, fmt.Errorf("the certificate does not verify: %w", err)
	}
	return leaf, nil
}

func hexSHA(b []byte) string { return hex.EncodeToString(b) }

func sha256Hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
