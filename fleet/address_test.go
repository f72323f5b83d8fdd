package fleet

import (
	"strings"
	"testing"
)

func TestValidateAddresses(t *testing.T) {
	for _, ok := range [][]string{nil, {"10.0.0.1:8081", "gw.example.com:1", "[::1]:65535", "[fe80::1]:8081"}} {
		if err := ValidateAddresses(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, tc := range []struct {
		addrs []string
		want  string
	}{
		{[]string{"h:99999"}, "port 1 to 65535"},
		{[]string{"h:65536"}, "port 1 to 65535"},
		{[]string{"h:0"}, "port 1 to 65535"},
		{[]string{"h:08081"}, "port 1 to 65535"},
		{[]string{"no-port"}, "want host:port"},
		{[]string{"::1:8081"}, "want host:port"},
		{[]string{"h:8081", "h:8081"}, "listed twice"},
		{make([]string, MaxAddresses+1), "at most 16"},
	} {
		if err := ValidateAddresses(tc.addrs); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error with %q", tc.addrs, err, tc.want)
		}
	}
}
