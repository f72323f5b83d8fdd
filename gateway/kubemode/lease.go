package kubemode

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasmbed/wasmbed/fleet/kubestore"
	"github.com/wasmbed/wasmbed/gateway"
)

// Defaults of the gateway's Lease (Kubernetes mode): renewed every 2 s,
// valid 10 s, so the controller moves a dead gateway's devices within 10 s
// of its last renewal, and a gateway rides out four missed renewals (a
// slow API server) before its devices move.
const (
	DefaultLeaseDuration = 10 * time.Second
	DefaultLeaseRenew    = 2 * time.Second
)

// LeaseTimes are the Lease's duration and renewal period of c, defaults
// applied; an error when the renewal would not fit in the duration.
func (c Config) LeaseTimes() (dur, renew time.Duration, err error) {
	dur, renew = c.LeaseDuration, c.LeaseRenew
	if dur <= 0 {
		dur = DefaultLeaseDuration
	}
	if renew <= 0 {
		renew = min(DefaultLeaseRenew, dur/3)
	}
	if dur < time.Second || dur%time.Second != 0 {
		return 0, 0, fmt.Errorf("lease duration %v: want whole seconds, at least 1s", dur)
	}
	if renew >= dur {
		return 0, 0, fmt.Errorf("lease renewal every %v does not fit in the lease duration %v: renew more often than that", renew, dur)
	}
	return dur, renew, nil
}

// holdLease keeps the gateway's Lease (kubestore.GatewayLeaseName)
// renewed until ctx ends: the controller's view of whether the gateway is
// alive. It is not released when the gateway stops: a gateway that
// restarts within the lease duration keeps its devices; one that does not
// come back loses them when the Lease expires, as one that was killed.
func (k *Mode) holdLease(ctx context.Context, m *gateway.Metrics) {
	dur, renew, err := k.cfg.LeaseTimes()
	if err != nil { // checked when the gateway started
		k.log.Error("lease", "err", err)
		return
	}
	h := &leaseHolder{c: k.c, ns: k.ns, gateway: k.name, holder: leaseHolderID(k.name), dur: dur}
	t := time.NewTicker(renew)
	defer t.Stop()
	failing := false
	for {
		rctx, cancel := context.WithTimeout(ctx, renew)
		err := h.renew(rctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			m.LeaseRenewals.WithLabelValues("failed").Inc()
			if !failing {
				k.log.Warn("lease not renewed: the controller moves this gateway's devices if it stays so for the lease duration",
					"lease", kubestore.GatewayLeaseName(k.name), "duration", dur, "err", err)
			} else {
				k.log.Debug("lease not renewed", "err", err)
			}
			failing = true
		default:
			m.LeaseRenewals.WithLabelValues("renewed").Inc()
			if failing {
				k.log.Info("lease renewed again", "lease", kubestore.GatewayLeaseName(k.name))
			}
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// leaseHolderID names this gateway process: its name, host and a random
// part, so that a second process under the same name shows in the Lease.
func leaseHolderID(name string) string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s_%s_%s", name, host, hex.EncodeToString(b))
}

type leaseHolder struct {
	c       client.Client
	ns      string
	gateway string
	holder  string
	dur     time.Duration
	lease   *coordinationv1.Lease // as last written; nil: read it first
}

// renew writes the Lease's renewTime (creating or taking the Lease if
// needed): one update per renewal, a read only after a conflict.
func (h *leaseHolder) renew(ctx context.Context) error {
	now := metav1.NowMicro()
	name := kubestore.GatewayLeaseName(h.gateway)
	if h.lease == nil {
		var l coordinationv1.Lease
		err := h.c.Get(ctx, client.ObjectKey{Namespace: h.ns, Name: name}, &l)
		switch {
		case apierrors.IsNotFound(err):
			l = coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: h.ns,
				Labels: map[string]string{kubestore.LabelPartOf: "wasmbed", kubestore.LabelGateway: h.gateway}},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: new(h.holder), LeaseDurationSeconds: new(int32(h.dur / time.Second)),
					AcquireTime: &now, RenewTime: &now}}
			if err := h.c.Create(ctx, &l); err != nil {
				return fmt.Errorf("create lease %s: %w", name, err)
			}
			h.lease = &l
			return nil
		case err != nil:
			return fmt.Errorf("read lease %s: %w", name, err)
		}
		h.lease = &l
	}
	l := h.lease.DeepCopy()
	if l.Labels == nil {
		l.Labels = map[string]string{}
	}
	l.Labels[kubestore.LabelGateway] = h.gateway
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != h.holder {
		// This process takes the gateway's Lease (a restart, or the
		// Lease of an earlier process under this name).
		l.Spec.HolderIdentity, l.Spec.AcquireTime = new(h.holder), &now
		var n int32
		if l.Spec.LeaseTransitions != nil {
			n = *l.Spec.LeaseTransitions
		}
		l.Spec.LeaseTransitions = new(n + 1)
	}
	l.Spec.LeaseDurationSeconds = new(int32(h.dur / time.Second))
	l.Spec.RenewTime = &now
	if err := h.c.Update(ctx, l); err != nil {
		h.lease = nil // read again next time
		return fmt.Errorf("renew lease %s: %w", name, err)
	}
	h.lease = l
	return nil
}
