package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wasmbed/wasmbed/ca"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/protocol"
)

// Token format: "wbt_<id>_<secret>". The id finds the record; only the
// secret's sha256 is stored.
const tokenPrefix = fleet.EnrollmentTokenPrefix

// Reasons an enrollment is refused. For a token the device only ever
// hears "unauthorized", for a CSR "invalid" with why (enrollErrorCode);
// the reason goes to the gateway's metrics
// (wasmbed_gateway_enrollments_refused_total) and, at most every 10 s, its
// log: never to events, which anyone could flush by trying.
var (
	ErrTokenUnknown     = errors.New("enrollment token unknown")
	ErrTokenUsed        = errors.New("enrollment token already used")
	ErrTokenExpired     = errors.New("enrollment token expired")
	ErrTokenWrongDevice = errors.New("enrollment token issued for another device")
	ErrBadCSR           = errors.New("bad certificate request")
)

// CreateToken issues a one-time enrollment token for device, valid for ttl
// (fleet.MintEnrollmentToken). The returned secret is shown once; only its
// hash is kept.
func (g *Gateway) CreateToken(ctx context.Context, device string, ttl time.Duration) (string, fleet.EnrollmentToken, error) {
	if _, err := g.store.Devices().Get(ctx, device); err != nil {
		return "", fleet.EnrollmentToken{}, err
	}
	secret, rec, expired, err := fleet.MintEnrollmentToken(ctx, g.store.Tokens(), device, ttl)
	if expired > 0 {
		g.event(ctx, "token.deleted", device, fmt.Sprintf("%d expired enrollment token(s) never used deleted", expired))
	}
	if err != nil {
		return "", fleet.EnrollmentToken{}, err
	}
	g.event(ctx, "token.created", device, "enrollment token "+rec.ID+" expires "+rec.ExpiresAt.Format(time.RFC3339))
	return secret, rec, nil
}

// MaxUnusedTokens and ErrTooManyTokens are fleet's.
const MaxUnusedTokens = fleet.MaxUnusedTokens

var ErrTooManyTokens = fleet.ErrTooManyTokens

// consumeToken marks the token used by the key whose hash is keyHash, if
// it is valid for device now. A token already used by the same key (the
// device retrying after losing the answer) is valid again until it expires:
// retried is true, and prevSerial the certificate issued before.
func (g *Gateway) consumeToken(ctx context.Context, device, token, keyHash string) (id string, retried bool, prevSerial string, err error) {
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	id, secret, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 {
		return "", false, "", ErrTokenUnknown
	}
	now := time.Now().UTC()
	_, err = g.store.Tokens().Update(ctx, id, func(t *fleet.EnrollmentToken) error {
		retried, prevSerial = false, ""
		switch {
		case subtle.ConstantTimeCompare([]byte(t.Hash), []byte(fleet.SecretHash(secret))) != 1:
			return ErrTokenUnknown
		case t.Device != device:
			return ErrTokenWrongDevice
		case now.After(t.ExpiresAt):
			if !t.UsedAt.IsZero() {
				return ErrTokenUsed
			}
			return ErrTokenExpired
		case !t.UsedAt.IsZero():
			if t.UsedKey == "" || subtle.ConstantTimeCompare([]byte(t.UsedKey), []byte(keyHash)) != 1 {
				return ErrTokenUsed
			}
			retried, prevSerial = true, t.UsedSerial
			return nil
		}
		t.UsedAt, t.UsedKey = now, keyHash
		return nil
	})
	if errors.Is(err, fleet.ErrNotFound) {
		return "", false, "", ErrTokenUnknown
	}
	return id, retried, prevSerial, err
}

// keyHash is the hex sha256 of the CSR's public key (SubjectPublicKeyInfo).
func keyHash(csr *x509.CertificateRequest) string {
	sum := sha256.Sum256(csr.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

// Enroll checks a device's CSR and one-time token and has the CA sign the
// CSR for that device. It is what an enrollment session runs. deliverable
// (nil: any answer is) says whether the certificate answer reaches the
// device; when it cannot, nothing is recorded: the certificate is revoked
// with the CA, the token given back, and the error returned.
func (g *Gateway) Enroll(ctx context.Context, device, token string, csrDER []byte, deliverable func([]*x509.Certificate) error) ([]*x509.Certificate, error) {
	csr, err := parseCSR(csrDER, device)
	if err != nil {
		return nil, err
	}
	id, retried, prevSerial, err := g.consumeToken(ctx, device, token, keyHash(csr))
	if err != nil {
		return nil, err
	}
	// Give the token back when the device did nothing wrong (a token
	// retried stays with the key that used it).
	release := func() {
		if !retried {
			g.store.Tokens().Update(ctx, id, func(t *fleet.EnrollmentToken) error {
				t.UsedAt, t.UsedKey = time.Time{}, ""
				return nil
			})
		}
	}
	chain, err := g.ca.SignDevice(ctx, csr, device, g.cfg.CertTTL)
	if err != nil {
		release()
		return nil, fmt.Errorf("sign: %w", err)
	}
	if deliverable != nil {
		if err := deliverable(chain); err != nil {
			g.discardCertificate(ctx, device, chain[0], fleet.SourceEnrollment, "undeliverable")
			release()
			return nil, err
		}
	}
	leaf := chain[0]
	serial := leaf.SerialNumber.Text(16)
	if _, err := g.store.Tokens().Update(ctx, id, func(t *fleet.EnrollmentToken) error { t.UsedSerial = serial; return nil }); err != nil {
		return nil, err
	}
	if retried && prevSerial != "" && prevSerial != serial {
		// One certificate per enrollment: the one whose answer was lost is
		// superseded below, like any certificate before an enrollment.
		g.log.Info("enrollment retried with the same key; the certificate issued before is superseded", "device", device, "superseded", prevSerial, "serial", serial)
	}
	// The device's certificate from now on, in the ledger; the ones before
	// are superseded.
	if err := g.recordCertificate(ctx, device, leaf, fleet.SourceEnrollment, fleet.CertCurrent); err != nil {
		g.discardCertificate(ctx, device, leaf, fleet.SourceEnrollment, "unrecorded")
		return nil, err
	}
	g.dropUnusedTokens(ctx, device, id)
	return chain, nil
}

// dropUnusedTokens deletes the tokens issued for device that were never used,
// but the one it enrolled with: once enrolled, a device needs none, and one
// left would enroll anything registered later under its name. The token used
// stays until it expires: it lets the same key retry an enrollment whose
// answer was lost, and nothing else.
func (g *Gateway) dropUnusedTokens(ctx context.Context, device, keep string) {
	toks, err := fleet.DeviceTokens(ctx, g.store.Tokens(), device)
	if err != nil {
		g.log.Warn("enrollment: unused tokens not listed", "device", device, "err", err)
		return
	}
	n := 0
	for _, t := range toks {
		if t.ID == keep || !t.UsedAt.IsZero() {
			continue
		}
		if err := g.store.Tokens().Delete(ctx, t.ID); err != nil && !errors.Is(err, fleet.ErrNotFound) {
			g.log.Warn("enrollment: unused token not deleted", "device", device, "token", t.ID, "err", err)
			continue
		}
		n++
	}
	if n > 0 {
		g.event(ctx, "token.deleted", device, fmt.Sprintf("%d unused enrollment token(s) deleted: the device enrolled", n))
	}
}

// parseCSR reads a DER PKCS#10 request for device and checks it against
// the rule the CA signs by (ca.CheckDeviceCSR: a P-256 key, a valid
// signature, no other name than the device's); an error matches ErrBadCSR.
func parseCSR(der []byte, device string) (*x509.CertificateRequest, error) {
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCSR, err)
	}
	if err := ca.CheckDeviceCSR(csr, device); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCSR, err)
	}
	return csr, nil
}

// certificateAnswer is the certificate message carrying chain.
func certificateAnswer(chain []*x509.Certificate) *protocol.Certificate {
	der := make([][]byte, len(chain))
	for i, c := range chain {
		der[i] = c.Raw
	}
	return &protocol.Certificate{Chain: der, NotAfter: chain[0].NotAfter.UnixMilli()}
}

// fits says whether m, answering requestID, fits the device's max_frame.
func (s *session) fits(m protocol.Message, requestID uint64) error {
	return s.stream.Fits(protocol.Envelope{RequestID: requestID, Msg: m})
}

// enrollSession serves a session without a client certificate: welcome,
// one enroll, the certificate, then the session ends. It reports whether
// the device enrolled.
func (g *Gateway) enrollSession(ctx context.Context, s *session, helloID uint64) bool {
	if err := g.welcome(s, helloID); err != nil {
		return false
	}
	env, err := s.stream.Receive()
	if err != nil {
		s.answerDecodeError(err)
		s.log().Debug("enrollment session ended before enroll", "err", err)
		return false
	}
	m, ok := env.Msg.(*protocol.Enroll)
	if !ok {
		g.Metrics.Refused.WithLabelValues("no_client_certificate").Inc()
		s.sendError(env.RequestID, protocol.CodeForbidden, "only enroll is allowed without a client certificate")
		return false
	}
	chain, err := g.Enroll(ctx, m.Device, m.Token, m.CSR, func(chain []*x509.Certificate) error {
		return s.fits(certificateAnswer(chain), env.RequestID)
	})
	if err != nil {
		// Anyone can be refused, as often as they like: counted, and
		// logged at most every 10 s, never an event.
		reason := enrollRefusal(err)
		g.Metrics.Enrollments.WithLabelValues("refused").Inc()
		g.Metrics.EnrollRefused.WithLabelValues(reason).Inc()
		g.adm.log.Log("enrollment_refused", "enrollment refused", "claimed_device", m.Device, "remote", s.conn.RemoteAddr().String(), "err", err)
		code, msg := enrollErrorCode(err)
		s.sendError(env.RequestID, code, msg)
		return false
	}
	g.Metrics.Enrollments.WithLabelValues("ok").Inc()
	g.event(ctx, "device.enrolled", m.Device, "certificate "+chain[0].SerialNumber.Text(16))
	return s.send(certificateAnswer(chain), env.RequestID) == nil
}

// enrollErrorCode is the answer to a refused enrollment (docs/protocol.md,
// enroll): a token refused is only ever "unauthorized", whichever check
// failed.
func enrollErrorCode(err error) (protocol.ErrorCode, string) {
	switch {
	case errors.Is(err, ErrBadCSR):
		return protocol.CodeInvalid, err.Error()
	case errors.Is(err, protocol.ErrPeerFrameLimit):
		return protocol.CodeNoRoom, err.Error()
	case errors.Is(err, ErrTokenUnknown), errors.Is(err, ErrTokenUsed), errors.Is(err, ErrTokenExpired), errors.Is(err, ErrTokenWrongDevice):
		return protocol.CodeUnauthorized, "enrollment refused"
	}
	return protocol.CodeInternal, "enrollment failed"
}

// enrollRefusal is the metric label of why an enrollment was refused.
func enrollRefusal(err error) string {
	switch {
	case errors.Is(err, ErrTokenUnknown):
		return "token_unknown"
	case errors.Is(err, ErrTokenUsed):
		return "token_used"
	case errors.Is(err, ErrTokenExpired):
		return "token_expired"
	case errors.Is(err, ErrTokenWrongDevice):
		return "token_wrong_device"
	case errors.Is(err, ErrBadCSR):
		return "bad_csr"
	case errors.Is(err, protocol.ErrPeerFrameLimit):
		return "undeliverable"
	}
	return "other"
}

// onRenew signs a new certificate for the session's device.
func (g *Gateway) onRenew(ctx context.Context, s *session, requestID uint64, m *protocol.Renew) {
	csr, err := parseCSR(m.CSR, s.device)
	if err != nil {
		s.sendError(requestID, protocol.CodeInvalid, err.Error())
		return
	}
	chain, err := g.ca.SignDevice(ctx, csr, s.device, g.cfg.CertTTL)
	if err != nil {
		s.log().Error("renewal failed", "err", err)
		s.sendError(requestID, protocol.CodeInternal, "renewal failed")
		return
	}
	leaf, answer := chain[0], certificateAnswer(chain)
	// An answer the device cannot receive leaves nothing behind.
	if err := s.fits(answer, requestID); err != nil {
		g.discardCertificate(ctx, s.device, leaf, fleet.SourceRenewal, "undeliverable")
		s.log().Warn("renewal refused: the certificate does not fit the device's max_frame", "err", err)
		s.sendError(requestID, protocol.CodeNoRoom, err.Error())
		return
	}
	// Pending until the device opens a session with it; then it is current
	// and this session's certificate superseded.
	if err := g.recordRenewal(ctx, s.device, s.serial, leaf); err != nil {
		g.discardCertificate(ctx, s.device, leaf, fleet.SourceRenewal, "unrecorded")
		s.log().Error("renewal failed", "err", err)
		s.sendError(requestID, protocol.CodeInternal, "renewal failed")
		return
	}
	g.event(ctx, "certificate.renewed", s.device, "certificate "+leaf.SerialNumber.Text(16)+" pending until the device uses it")
	s.send(answer, requestID)
}
