package fleet

import (
	"fmt"
	"regexp"
)

// AddressPattern is a gateway's device address: host:port, an IPv6 host
// in brackets, the port 1 to 65535. The CRD's Address marker
// (api/v1alpha1) and the management API's document use it too.
const AddressPattern = `^([^\s:\[\]]+|\[[0-9A-Fa-f:.]+\]):([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$`

// MaxAddresses is how many addresses a gateway may register.
const MaxAddresses = 16

var addressRE = regexp.MustCompile(AddressPattern)

// ValidateAddresses checks a gateway's addresses: at most MaxAddresses,
// each host:port with a port a device can connect to, none twice (a device
// would try the same endpoint again instead of another).
func ValidateAddresses(addrs []string) error {
	if len(addrs) > MaxAddresses {
		return fmt.Errorf("addresses: %d, at most %d", len(addrs), MaxAddresses)
	}
	seen := make(map[string]bool, len(addrs))
	for _, a := range addrs {
		if !addressRE.MatchString(a) {
			return fmt.Errorf("addresses: %q: want host:port, the port 1 to 65535 (an IPv6 host in brackets)", a)
		}
		if seen[a] {
			return fmt.Errorf("addresses: %q is listed twice", a)
		}
		seen[a] = true
	}
	return nil
}
