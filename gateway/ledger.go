package gateway

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/protocol"
)

// The certificate ledger (Store.Certificates) holds every device
// certificate the CA signed, whichever path asked for it: enrollment,
// renewal, the management API. A device session opens only with a
// certificate whose entry names that device and is current, or pending (the
// successor a renewal issued, which then becomes current). A device has one
// current certificate: a new one from enrollment or the API supersedes the
// one before (and a pending one), and so does a renewal once the device uses
// the new certificate. Superseded and revoked certificates are revoked with
// the CA as well, so its CRL lists them for other verifiers.

// ledgerRetention is how long an expired certificate stays in the ledger
// (step-ca keeps an expired serial on its CRL for an hour too).
const ledgerRetention = time.Hour

// ErrCertificateRefused is wrapped by the reasons admitCertificate refuses
// a session's certificate.
var ErrCertificateRefused = errors.New("certificate refused")

// serialHex is how the ledger and the store name a certificate.
func serialHex(c *x509.Certificate) string { return c.SerialNumber.Text(16) }

// recordCertificate enters a certificate just signed for device in the
// ledger as current (state), names it in the device's status, and
// supersedes the ones before (the current and the pending one).
func (g *Gateway) recordCertificate(ctx context.Context, device string, leaf *x509.Certificate, source, state string) error {
	now := time.Now().UTC()
	c := fleet.Certificate{Serial: serialHex(leaf), Device: device, Source: source, NotBefore: leaf.NotBefore.UTC(),
		NotAfter: leaf.NotAfter.UTC(), IssuedAt: now, State: state, ChangedAt: now}
	if err := g.store.Certificates().Create(ctx, c.Serial, c); err != nil {
		return fmt.Errorf("record certificate %s of %s: %w", c.Serial, device, err)
	}
	var old []string
	if _, err := g.store.Devices().Update(ctx, device, func(d *fleet.Device) error {
		old = append(old[:0], d.Status.CertSerial, d.Status.CertPending)
		if d.Status.Phase == fleet.PhaseRegistered || d.Status.Phase == fleet.PhaseRevoked || d.Status.Phase == "" {
			d.Status.Phase = fleet.PhaseOffline
		}
		d.Status.CertSerial, d.Status.CertNotAfter, d.Status.CertPending = c.Serial, c.NotAfter, ""
		d.Status.Message = ""
		return nil
	}); err != nil {
		return fmt.Errorf("record certificate %s of %s: %w", c.Serial, device, err)
	}
	g.log.Info("certificate recorded", "device", device, "serial", c.Serial, "source", source, "state", state, "not_after", c.NotAfter)
	g.supersede(ctx, device, old, c.Serial, "superseded by "+c.Serial+" ("+source+")")
	return nil
}

// recordRenewal enters a certificate a renewal signed for device in the
// ledger as pending, the successor of renews (the session's certificate,
// which must be the device's current one), and names it in the device's
// status as its latest pending certificate. An earlier renewal's stays
// pending too: the device may have lost this answer and hold that one.
func (g *Gateway) recordRenewal(ctx context.Context, device, renews string, leaf *x509.Certificate) error {
	now := time.Now().UTC()
	c := fleet.Certificate{Serial: serialHex(leaf), Device: device, Source: fleet.SourceRenewal, NotBefore: leaf.NotBefore.UTC(),
		NotAfter: leaf.NotAfter.UTC(), IssuedAt: now, State: fleet.CertPending, Renews: renews, ChangedAt: now}
	if err := g.store.Certificates().Create(ctx, c.Serial, c); err != nil {
		return fmt.Errorf("record renewal %s of %s: %w", c.Serial, device, err)
	}
	if _, err := g.store.Devices().Update(ctx, device, func(d *fleet.Device) error {
		if d.Status.CertSerial != renews {
			return fmt.Errorf("%w: the session's certificate %s is no longer the device's (%q)", ErrCertificateRefused, renews, d.Status.CertSerial)
		}
		d.Status.CertPending = c.Serial
		return nil
	}); err != nil {
		return fmt.Errorf("record renewal %s of %s: %w", c.Serial, device, err)
	}
	g.log.Info("certificate recorded", "device", device, "serial", c.Serial, "source", c.Source, "state", c.State, "renews", renews, "not_after", c.NotAfter)
	return nil
}

// supersede marks superseded the certificates serials of device that are
// usable (but not keep), closes a session holding one and revokes them
// with the CA (reason superseded), so that its CRL lists them. The status
// no longer names them: they are refused whatever happens here, which is
// best effort.
func (g *Gateway) supersede(ctx context.Context, device string, serials []string, keep, reason string) {
	now := time.Now().UTC()
	for _, serial := range serials {
		if serial == "" || serial == keep {
			continue
		}
		changed := false
		_, err := g.store.Certificates().Update(ctx, serial, func(o *fleet.Certificate) error {
			changed = o.Usable() && o.Device == device
			if changed {
				o.State, o.Reason, o.ChangedAt = fleet.CertSuperseded, reason, now
			}
			return nil
		})
		if err != nil && !errors.Is(err, fleet.ErrNotFound) {
			g.log.Warn("supersede certificate", "device", device, "serial", serial, "err", err)
			continue
		}
		if !changed && err == nil {
			continue
		}
		g.log.Info("certificate superseded", "device", device, "serial", serial, "reason", reason)
		g.closeSessionWith(serial, protocol.CodeForbidden, "certificate superseded")
		g.caRevoke(ctx, device, serial, "superseded")
	}
}

// deviceCertificates lists the ledger entries of device (reading the
// whole ledger: for revocations and the API, not for sessions).
func (g *Gateway) deviceCertificates(ctx context.Context, device string) ([]fleet.Certificate, error) {
	all, err := g.store.Certificates().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list certificates of %s: %w", device, err)
	}
	out := all[:0]
	for _, c := range all {
		if c.Device == device {
			out = append(out, c)
		}
	}
	return out, nil
}

// admitCertificate decides whether a session of dev may open with the
// certificate serial (hex): its ledger entry must name dev and be current,
// with the device's status naming it so (a device deleted and registered
// again starts with none), or pending, renewing the device's current one.
// A pending certificate then becomes current and supersedes the one before
// and the latest pending one (other pending ones no longer renew the
// current certificate: refused, and marked by the sweep). Errors wrap
// ErrCertificateRefused, with the code to tell the device.
func (g *Gateway) admitCertificate(ctx context.Context, dev *fleet.Device, serial string) (protocol.ErrorCode, error) {
	c, err := g.store.Certificates().Get(ctx, serial)
	switch {
	case errors.Is(err, fleet.ErrNotFound):
		g.Metrics.refused("unknown_certificate")
		return protocol.CodeForbidden, fmt.Errorf("%w: %s is not in the ledger", ErrCertificateRefused, serial)
	case err != nil:
		return protocol.CodeInternal, fmt.Errorf("read certificate %s: %w", serial, err)
	case c.Device != dev.Name:
		g.Metrics.refused("unknown_certificate")
		return protocol.CodeForbidden, fmt.Errorf("%w: %s was issued for %q", ErrCertificateRefused, serial, c.Device)
	case c.State == fleet.CertRevoked:
		g.Metrics.refused("revoked")
		return protocol.CodeRevoked, fmt.Errorf("%w: %s is revoked: %s", ErrCertificateRefused, serial, c.Reason)
	case c.State == fleet.CertSuperseded:
		g.Metrics.refused("superseded")
		return protocol.CodeForbidden, fmt.Errorf("%w: %s is superseded: %s", ErrCertificateRefused, serial, c.Reason)
	case c.State == fleet.CertCurrent && dev.Status.CertSerial == serial:
		return 0, nil
	case c.State != fleet.CertPending || c.Renews == "" || c.Renews != dev.Status.CertSerial:
		g.Metrics.refused("superseded")
		return protocol.CodeForbidden, fmt.Errorf("%w: %s is not the device's certificate (%q) nor renews it", ErrCertificateRefused,
			serial, dev.Status.CertSerial)
	}
	// The renewal's certificate in use: it becomes the device's.
	var old []string
	d, err := g.store.Devices().Update(ctx, dev.Name, func(d *fleet.Device) error {
		if d.Status.CertSerial != c.Renews {
			return fmt.Errorf("%w: %s no longer renews the device's certificate", ErrCertificateRefused, serial)
		}
		old = append(old[:0], d.Status.CertSerial, d.Status.CertPending)
		d.Status.CertSerial, d.Status.CertNotAfter, d.Status.CertPending = serial, c.NotAfter, ""
		return nil
	})
	if err != nil {
		return protocol.CodeForbidden, fmt.Errorf("promote certificate %s: %w", serial, err)
	}
	*dev = d
	now := time.Now().UTC()
	if _, err := g.store.Certificates().Update(ctx, serial, func(o *fleet.Certificate) error {
		o.State, o.ChangedAt = fleet.CertCurrent, now
		return nil
	}); err != nil {
		return protocol.CodeInternal, fmt.Errorf("promote certificate %s: %w", serial, err)
	}
	g.supersede(ctx, dev.Name, old, serial, "superseded by "+serial+" (renewal, now in use)")
	g.event(ctx, "certificate.current", dev.Name, "renewed certificate "+serial+" in use; the one before is superseded")
	return 0, nil
}

// revokeCertificates revokes the certificates of device that which selects
// (every one not revoked yet, when nil), and the serial its status names
// if the ledger lacks it: each is refused from now on, a session holding
// one closes at once, and the CA is told. It returns the serials revoked.
func (g *Gateway) revokeCertificates(ctx context.Context, device, reason string, which func(*fleet.Certificate) bool) ([]string, error) {
	certs, err := g.deviceCertificates(ctx, device)
	if err != nil {
		return nil, err
	}
	var serials []string
	for _, c := range certs {
		if c.State == fleet.CertRevoked || which != nil && !which(&c) {
			continue
		}
		serials = append(serials, c.Serial)
	}
	if which == nil {
		if d, err := g.store.Devices().Get(ctx, device); err == nil {
			for _, sn := range []string{d.Status.CertSerial, d.Status.CertPending} {
				if _, err := g.store.Certificates().Get(ctx, sn); sn != "" && errors.Is(err, fleet.ErrNotFound) {
					serials = append(serials, sn)
				}
			}
		}
	}
	// The ledger refuses them and their sessions close first; then the
	// revocation records and the CA, which regenerates its CRL each time.
	now := time.Now().UTC()
	for _, serial := range serials {
		if _, err := g.store.Certificates().Update(ctx, serial, func(o *fleet.Certificate) error {
			o.State, o.Reason, o.ChangedAt = fleet.CertRevoked, reason, now
			return nil
		}); err != nil && !errors.Is(err, fleet.ErrNotFound) {
			return nil, fmt.Errorf("revoke certificate %s of %s: %w", serial, device, err)
		}
		g.closeSessionWith(serial, protocol.CodeRevoked, "certificate revoked")
	}
	for _, serial := range serials {
		if err := g.revokeSerial(ctx, device, serial, reason); err != nil {
			return nil, err
		}
	}
	return serials, nil
}

// RevokeCertificate revokes one certificate, by serial (hex), and the
// pending renewals it got: refused from now on, a session holding one
// closes at once, and the CA is told. A device whose current certificate
// is revoked is marked revoked.
func (g *Gateway) RevokeCertificate(ctx context.Context, serial, reason string) (fleet.Certificate, error) {
	c, err := g.store.Certificates().Get(ctx, serial)
	if err != nil {
		return fleet.Certificate{}, err
	}
	// With it go the renewals it got, which would otherwise succeed it.
	if _, err := g.revokeCertificates(ctx, c.Device, reason, func(o *fleet.Certificate) bool {
		return o.Serial == serial || o.State == fleet.CertPending && o.Renews == serial
	}); err != nil {
		return fleet.Certificate{}, err
	}
	// A device whose current certificate is revoked has none left.
	if _, err := g.store.Devices().Update(ctx, c.Device, func(d *fleet.Device) error {
		switch serial {
		case d.Status.CertPending:
			d.Status.CertPending = ""
		case d.Status.CertSerial:
			d.Status.CertPending = ""
			d.Status.Phase, d.Status.Message = fleet.PhaseRevoked, "certificate revoked: "+reason
		}
		return nil
	}); err != nil && !errors.Is(err, fleet.ErrNotFound) {
		return fleet.Certificate{}, err
	}
	g.event(ctx, "certificate.revoked", c.Device, "certificate "+serial+" revoked: "+reason)
	return g.store.Certificates().Get(ctx, serial)
}

// Certificates lists the ledger: every device certificate signed, with its
// state; only device's when device is not empty.
func (g *Gateway) Certificates(ctx context.Context, device string) ([]fleet.Certificate, error) {
	if device != "" {
		return g.deviceCertificates(ctx, device)
	}
	return g.store.Certificates().List(ctx)
}

// CRL is the CA's certificate revocation list (DER): every certificate
// revoked or superseded through the gateway that has not expired.
func (g *Gateway) CRL(ctx context.Context) ([]byte, error) { return g.ca.CRL(ctx) }

// certificateChanged closes the session holding a certificate whose ledger
// entry changed, elsewhere too (another gateway, Kubernetes), when the
// certificate is no longer usable.
func (g *Gateway) certificateChanged(ctx context.Context, ch fleet.Change) {
	g.mu.Lock()
	held := false
	for _, s := range g.sessions {
		if s.serial == ch.Key {
			held = true
			break
		}
	}
	g.mu.Unlock()
	if !held {
		return
	}
	c, err := g.store.Certificates().Get(ctx, ch.Key)
	switch {
	case errors.Is(err, fleet.ErrNotFound):
		g.closeSessionWith(ch.Key, protocol.CodeForbidden, "certificate no longer in the ledger")
	case err != nil:
		g.log.Warn("read certificate", "serial", ch.Key, "err", err)
	case c.State == fleet.CertRevoked:
		g.closeSessionWith(ch.Key, protocol.CodeRevoked, "certificate revoked")
	case !c.Usable():
		g.closeSessionWith(ch.Key, protocol.CodeForbidden, "certificate "+c.State)
	}
}

// revokedElsewhere records in the ledger and with this gateway's CA (for
// its CRL) revocations another gateway or Kubernetes made.
func (g *Gateway) revokedElsewhere(ctx context.Context, revs []fleet.Revocation) {
	for _, r := range revs {
		g.caRevoke(ctx, r.Device, r.Serial, r.Reason) // first: a ledger that says revoked means the CRL lists it
		if _, err := g.store.Certificates().Update(ctx, r.Serial, func(c *fleet.Certificate) error {
			if c.State != fleet.CertRevoked {
				c.State, c.Reason, c.ChangedAt = fleet.CertRevoked, r.Reason, r.RevokedAt
			}
			return nil
		}); err != nil && !errors.Is(err, fleet.ErrNotFound) {
			g.log.Warn("record a revocation in the ledger", "device", r.Device, "serial", r.Serial, "err", err)
		}
	}
}

// closeSessionWith closes the session holding the certificate serial, if
// any, telling the device code.
func (g *Gateway) closeSessionWith(serial string, code protocol.ErrorCode, msg string) {
	g.mu.Lock()
	var s *session
	for _, o := range g.sessions {
		if o.serial == serial {
			s = o
			break
		}
	}
	g.mu.Unlock()
	if s == nil {
		return
	}
	closeMu.Lock()
	defer closeMu.Unlock()
	if !s.closed.Load() {
		s.sendError(0, code, msg)
		s.close(msg)
	}
}

// closeMu makes telling a device why and closing its session one step, so
// that two paths closing it at once (a change made here and the watch
// seeing it) send one error.
var closeMu sync.Mutex

// discardCertificate records in the ledger, revoked, a certificate signed
// for device that will not be used (its answer could not reach the device,
// or recording it as the device's failed) and revokes it with the CA: the
// ledger keeps every certificate the CA signed. Best effort.
func (g *Gateway) discardCertificate(ctx context.Context, device string, leaf *x509.Certificate, source, reason string) {
	now := time.Now().UTC()
	c := fleet.Certificate{Serial: serialHex(leaf), Device: device, Source: source, NotBefore: leaf.NotBefore.UTC(),
		NotAfter: leaf.NotAfter.UTC(), IssuedAt: now, State: fleet.CertRevoked, Reason: reason, ChangedAt: now}
	if err := g.store.Certificates().Create(ctx, c.Serial, c); errors.Is(err, fleet.ErrExists) {
		_, err = g.store.Certificates().Update(ctx, c.Serial, func(o *fleet.Certificate) error {
			o.State, o.Reason, o.ChangedAt = fleet.CertRevoked, reason, now
			return nil
		})
		if err != nil {
			g.log.Warn("record a discarded certificate", "device", device, "serial", c.Serial, "err", err)
		}
	} else if err != nil {
		g.log.Warn("record a discarded certificate", "device", device, "serial", c.Serial, "err", err)
	}
	g.caRevoke(ctx, device, c.Serial, reason)
}

// caRevoke tells the CA that a certificate is no longer valid (for its CRL
// and its renewals); best effort, the ledger refuses it anyway.
func (g *Gateway) caRevoke(ctx context.Context, device, serialHex, reason string) {
	serial, ok := new(big.Int).SetString(serialHex, 16)
	if !ok {
		g.log.Warn("CA revocation skipped: serial is not hex", "device", device, "serial", serialHex)
		return
	}
	if err := g.ca.Revoke(ctx, serial, reason); err != nil {
		g.log.Warn("CA revocation failed; the gateway refuses the certificate anyway", "device", device, "serial", serialHex, "err", err)
	}
}

// sweepLedgerLoop sweeps the ledger every ledgerRetention until ctx ends.
func (g *Gateway) sweepLedgerLoop(ctx context.Context) {
	t := time.NewTicker(ledgerRetention)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := g.sweepLedger(ctx, time.Now().UTC()); err != nil {
			g.log.Warn("sweep the certificate ledger", "err", err)
		}
	}
}

// sweepLedger drops the certificates that expired more than
// ledgerRetention before now, and marks superseded the usable ones that
// are no longer the device's (a pending one whose renewed certificate is
// no longer current; a current one its device's status does not name, left
// by a device deleted without the gateway, in Kubernetes, and registered
// again): refused anyway, as admission reads the status. Entries younger than ledgerRetention are left alone: their
// device's status may not have been written yet.
func (g *Gateway) sweepLedger(ctx context.Context, now time.Time) error {
	certs, err := g.store.Certificates().List(ctx)
	if err != nil {
		return err
	}
	devs, err := g.store.Devices().List(ctx)
	if err != nil {
		return err
	}
	current := map[string]string{} // device -> its current certificate
	for _, d := range devs {
		current[d.Name] = d.Status.CertSerial
	}
	dropped := 0
	for _, c := range certs {
		switch {
		case c.NotAfter.Before(now.Add(-ledgerRetention)):
			if err := g.store.Certificates().Delete(ctx, c.Serial); err != nil && !errors.Is(err, fleet.ErrNotFound) {
				return err
			}
			dropped++
		case c.State == fleet.CertCurrent && current[c.Device] != c.Serial && c.IssuedAt.Before(now.Add(-ledgerRetention)),
			c.State == fleet.CertPending && (c.Renews == "" || current[c.Device] != c.Renews) && c.IssuedAt.Before(now.Add(-ledgerRetention)):
			g.supersede(ctx, c.Device, []string{c.Serial}, "", "not the certificate of a registered device")
		}
	}
	if dropped > 0 {
		g.log.Info("expired certificates dropped from the ledger", "count", dropped)
	}
	return nil
}

// backfillLedger enters in the ledger, as current, the certificates that
// devices' statuses name and the ledger lacks (issued before it existed),
// so that upgrading the gateway locks no device out.
func (g *Gateway) backfillLedger(ctx context.Context) error {
	devs, err := g.store.Devices().List(ctx)
	if err != nil {
		return fmt.Errorf("gateway: backfill certificate ledger: %w", err)
	}
	for _, d := range devs {
		if d.Status.CertSerial == "" || d.Status.Phase == fleet.PhaseRevoked {
			continue
		}
		if _, err := g.store.Certificates().Get(ctx, d.Status.CertSerial); !errors.Is(err, fleet.ErrNotFound) {
			continue
		}
		now := time.Now().UTC()
		c := fleet.Certificate{Serial: d.Status.CertSerial, Device: d.Name, Source: fleet.SourceUnrecorded,
			NotAfter: d.Status.CertNotAfter, IssuedAt: now, State: fleet.CertCurrent, ChangedAt: now}
		if err := g.store.Certificates().Create(ctx, c.Serial, c); err != nil && !errors.Is(err, fleet.ErrExists) {
			return fmt.Errorf("gateway: backfill certificate ledger: %w", err)
		}
		g.log.Info("certificate entered in the ledger from the device's status", "device", d.Name, "serial", c.Serial)
	}
	return nil
}
