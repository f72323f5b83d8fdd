package kubemode

import (
	"testing"
	"time"
)

// LeaseTimes refuses a renewal that does not fit in the duration and a
// duration that is not whole seconds; it applies the defaults.
func TestLeaseTimes(t *testing.T) {
	if _, _, err := (Config{LeaseDuration: 2 * time.Second, LeaseRenew: 2 * time.Second}).LeaseTimes(); err == nil {
		t.Fatal("a renewal every 2s of a 2s lease accepted")
	}
	if _, _, err := (Config{LeaseDuration: 1500 * time.Millisecond}).LeaseTimes(); err == nil {
		t.Fatal("a lease of 1.5s accepted")
	}
	if d, r, err := (Config{}).LeaseTimes(); err != nil || d != DefaultLeaseDuration || r != DefaultLeaseRenew {
		t.Fatalf("defaults: %v %v %v", d, r, err)
	}
	if d, r, err := (Config{LeaseDuration: 3 * time.Second}).LeaseTimes(); err != nil || d != 3*time.Second || r != time.Second {
		t.Fatalf("a 3s lease: %v %v %v (want renewed every second)", d, r, err)
	}
}
