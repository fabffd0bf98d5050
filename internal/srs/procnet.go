package srs

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// TCPSocket is one line of Linux's /proc/net/tcp or /proc/net/tcp6.
type TCPSocket struct {
	Local, Remote netip.AddrPort // IPv4-mapped IPv6 addresses are unmapped
	UID           int
}

// ParseProcNetTCP reads /proc/net/tcp or /proc/net/tcp6: a header line,
// then one socket a line, "sl local_address rem_address st tx:rx tr:when
// retrnsmt uid timeout inode …", addresses as hex words in the kernel's
// (native) byte order and ports as big hex numbers, e.g.
// "0100007F:1F90" for 127.0.0.1:8080 on a little-endian machine.
func ParseProcNetTCP(r io.Reader) ([]TCPSocket, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	var socks []TCPSocket
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] == "sl" {
			continue
		}
		if len(fields) < 8 {
			return nil, fmt.Errorf("line %d: %d fields, want at least 8", n, len(fields))
		}
		local, err := parseProcAddr(fields[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: local address: %w", n, err)
		}
		remote, err := parseProcAddr(fields[2])
		if err != nil {
			return nil, fmt.Errorf("line %d: remote address: %w", n, err)
		}
		uid, err := strconv.ParseUint(fields[7], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("line %d: uid %q is not a number", n, fields[7])
		}
		socks = append(socks, TCPSocket{Local: local, Remote: remote, UID: int(uid)})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return socks, nil
}

// parseProcAddr reads "0100007F:1F90" (IPv4) or 32 hex digits and a port
// (IPv6, four native-order words).
func parseProcAddr(s string) (netip.AddrPort, error) {
	hexAddr, hexPort, ok := strings.Cut(s, ":")
	if !ok || len(hexPort) != 4 {
		return netip.AddrPort{}, fmt.Errorf("%q is not ADDR:PORT", s)
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: bad port", s)
	}
	raw, err := hex.DecodeString(hexAddr)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("%q: bad address", s)
	}
	// Each 32-bit word was printed as a number: undo the kernel's order.
	var b [16]byte
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(b[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	var addr netip.Addr
	if len(raw) == 4 {
		addr = netip.AddrFrom4([4]byte(b[:4]))
	} else {
		addr = netip.AddrFrom16(b).Unmap()
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// errPeerNotFound: no socket of the tables has the connection's addresses.
var errPeerNotFound = errors.New("the client's socket is not in /proc/net/tcp")

// socketOwner finds, among socks, the client end of a connection srs
// accepted: its local address is the connection's remote address and its
// remote address srs's own.
func socketOwner(socks []TCPSocket, client, server netip.AddrPort) (int, error) {
	client = netip.AddrPortFrom(client.Addr().Unmap(), client.Port())
	server = netip.AddrPortFrom(server.Addr().Unmap(), server.Port())
	for _, s := range socks {
		if s.Local == client && s.Remote == server {
			return s.UID, nil
		}
	}
	return -1, errPeerNotFound
}
