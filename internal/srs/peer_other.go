//go:build !linux

package srs

import (
	"errors"
	"net"
)

// peerChecked: only Linux tells, through /proc/net/tcp, which user a
// loopback client runs as; elsewhere any local user's client is served
// (on Windows and macOS a desktop has one interactive user, and Citrix
// separates sessions by loopback address, see authenticationHost).
const peerChecked = false

func connOwner(net.Conn) (int, error) {
	return -1, errors.New("the owner of a loopback client is not known on this system")
}
