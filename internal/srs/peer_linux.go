//go:build linux

package srs

import (
	"fmt"
	"net"
	"os"
)

// peerChecked: this system tells which user a loopback client runs as.
const peerChecked = true

// connOwner is the uid owning the client end of c, from /proc/net/tcp
// (and tcp6, for a client on a dual-stack socket). Both ends of a loopback
// connection are in this machine's tables.
func connOwner(c net.Conn) (int, error) {
	server, ok1 := c.LocalAddr().(*net.TCPAddr)
	client, ok2 := c.RemoteAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return -1, fmt.Errorf("not a TCP connection")
	}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue
		}
		socks, err := ParseProcNetTCP(f)
		f.Close()
		if err != nil {
			return -1, fmt.Errorf("cannot read %s: %w", table, err)
		}
		if uid, err := socketOwner(socks, client.AddrPort(), server.AddrPort()); err == nil {
			return uid, nil
		}
	}
	return -1, errPeerNotFound
}
