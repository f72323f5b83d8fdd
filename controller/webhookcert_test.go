package controller

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// A serving certificate is issued anew when it lacks a name or nears its
// end, from the same CA while the CA has time left; a new CA otherwise.
func TestWebhookCertificateRenewal(t *testing.T) {
	hosts := []string{"wasmbed-webhook.ns.svc", "wasmbed-webhook.ns.svc.cluster.local", "127.0.0.1"}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p, err := issueWebhookPEM(nil, hosts, now)
	if err != nil {
		t.Fatal(err)
	}
	if why := p.stale(hosts, now); why != "" {
		t.Fatalf("fresh certificate stale: %s", why)
	}
	if why := p.stale(append(hosts, "other.svc"), now); !strings.Contains(why, "does not name other.svc") {
		t.Fatalf("a missing name: %q", why)
	}
	late := now.Add(webhookCertValidity - webhookRenewBefore + time.Hour)
	if why := p.stale(hosts, late); !strings.Contains(why, "expires") {
		t.Fatalf("a month before its end: %q", why)
	}
	next, err := issueWebhookPEM(&p, hosts, late)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(next.caCert, p.caCert) || bytes.Equal(next.cert, p.cert) || next.stale(hosts, late) != "" {
		t.Fatal("renewal: want the same CA, a new serving certificate, not stale")
	}
	// The CA near its own end: a new one.
	old := now.Add(webhookCAValidity - webhookCertValidity/2)
	if again, err := issueWebhookPEM(&p, hosts, old); err != nil || bytes.Equal(again.caCert, p.caCert) {
		t.Fatalf("a CA with less than a certificate's validity left kept (%v)", err)
	}
	// Garbage in the Secret: stale, and issued anew.
	bad := webhookPEM{caCert: []byte("x"), cert: []byte("y")}
	if bad.stale(hosts, now) == "" {
		t.Fatal("garbage not stale")
	}
	if fresh, err := issueWebhookPEM(&bad, hosts, now); err != nil || fresh.stale(hosts, now) != "" {
		t.Fatalf("from garbage: %v", err)
	}
}
