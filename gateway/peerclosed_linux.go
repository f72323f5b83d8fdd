package gateway

import "golang.org/x/sys/unix"

// peerClosed reports whether the peer of socket fd has closed its side,
// which a peek does not show while unread data is queued before the end.
func peerClosed(fd uintptr) bool {
	p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
	n, err := unix.Poll(p, 0)
	return err == nil && n > 0 && p[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) != 0
}
