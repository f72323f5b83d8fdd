package apischema_test

import (
	"strings"
	"testing"

	"github.com/wasmbed/wasmbed/gateway/apischema"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

// A body's schema, as the API and the provider's kubernetes backend check
// it: what passes, and what does not with where and why in words.
func TestBodySaysWhereAndWhy(t *testing.T) {
	s := apischema.Body(apiv1.ApplicationSpec{}, []string{"stm32f4-discovery"})
	ok := apiv1.ApplicationSpec{Version: "1.0.0", SHA256: strings.Repeat("ab", 32)}
	if err := apischema.Check(s, ok); err != nil {
		t.Fatalf("a valid spec: %v", err)
	}
	for _, c := range []struct {
		spec apiv1.ApplicationSpec
		want string
	}{
		{apiv1.ApplicationSpec{Version: "-1", SHA256: ok.SHA256}, "request body: version: "},
		{apiv1.ApplicationSpec{Version: "1", SHA256: "AB"}, "request body: sha256: "},
		{apiv1.ApplicationSpec{Version: "1", SHA256: ok.SHA256, Config: map[string]string{"k": strings.Repeat("x", 300)}}, "request body: config.k: "},
	} {
		if err := apischema.Check(s, c.spec); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q...", c.spec, err, c.want)
		}
	}
	d := apischema.Body(apiv1.DeviceSpec{}, []string{"stm32f4-discovery"})
	if err := apischema.Check(d, apiv1.DeviceSpec{Board: "uno"}); err == nil || !strings.Contains(err.Error(), `board: "uno": unknown; want one of "stm32f4-discovery"`) {
		t.Errorf("an unknown board: %v", err)
	}
}
