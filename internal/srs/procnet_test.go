package srs

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// procHex writes an IPv4 address as the kernel prints it on this machine.
func procHex(addr netip.AddrPort) string {
	b := addr.Addr().As4()
	return fmt.Sprintf("%08X:%04X", binary.NativeEndian.Uint32(b[:]), addr.Port())
}

func TestParseProcNetTCP(t *testing.T) {
	server := netip.MustParseAddrPort("127.0.0.1:8080")
	client := netip.MustParseAddrPort("127.0.0.1:51234")
	other := netip.MustParseAddrPort("127.1.1.2:40000")
	table := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
		fmt.Sprintf("   0: %s 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 11111 1 0000000000000000 100 0 0 10 0\n", procHex(server)) +
		fmt.Sprintf("   1: %s %s 01 00000000:00000000 00:00000000 00000000  1000        0 22222 1 0000000000000000 20 4 30 10 -1\n", procHex(server), procHex(client)) +
		fmt.Sprintf("   2: %s %s 01 00000000:00000000 00:00000000 00000000 65534        0 33333 1 0000000000000000 20 4 30 10 -1\n", procHex(client), procHex(server)) +
		fmt.Sprintf("   3: %s %s 01 00000000:00000000 00:00000000 00000000     0        0 44444 1 0000000000000000 20 4 30 10 -1\n", procHex(other), procHex(server))
	socks, err := ParseProcNetTCP(strings.NewReader(table))
	if err != nil {
		t.Fatal(err)
	}
	if len(socks) != 4 || socks[1].Local != server || socks[1].Remote != client || socks[2].UID != 65534 {
		t.Fatalf("sockets %+v", socks)
	}
	if uid, err := socketOwner(socks, client, server); err != nil || uid != 65534 {
		t.Errorf("owner of %s: %d %v", client, uid, err)
	}
	if uid, err := socketOwner(socks, other, server); err != nil || uid != 0 {
		t.Errorf("owner of %s: %d %v", other, uid, err)
	}
	if _, err := socketOwner(socks, netip.MustParseAddrPort("127.0.0.1:1"), server); err != errPeerNotFound {
		t.Errorf("unknown client: %v", err)
	}
	// tcp6: a dual-stack client's IPv4-mapped address.
	mapped := netip.AddrFrom16(netip.MustParseAddr("::ffff:127.0.0.1").As16())
	var words [16]byte
	b := mapped.As16()
	for i := 0; i < 16; i += 4 {
		binary.BigEndian.PutUint32(words[i:], binary.NativeEndian.Uint32(b[i:]))
	}
	line6 := fmt.Sprintf("   0: %X:%04X %X:%04X 01 00000000:00000000 00:00000000 00000000  4242 0 1 1\n", words[:], client.Port(), words[:], server.Port())
	socks6, err := ParseProcNetTCP(strings.NewReader(line6))
	if err != nil {
		t.Fatal(err)
	}
	if uid, err := socketOwner(socks6, client, server); err != nil || uid != 4242 {
		t.Errorf("tcp6 owner: %d %v (%+v)", uid, err, socks6)
	}
	for _, bad := range []string{
		"0: 0100007F:1F90 00000000:0000 0A\n",
		"0: 0100007F 00000000:0000 0A 0 0 0 1000 0 0\n",
		"0: 0100007G:1F90 00000000:0000 0A 0 0 0 1000 0 0\n",
		"0: 0100007F:1F90 00000000:0000 0A 0 0 0 -1 0 0\n",
		"0: 0100007F:11F90 00000000:0000 0A 0 0 0 1 0 0\n",
	} {
		if _, err := ParseProcNetTCP(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzProcNetTCP(f *testing.F) {
	f.Add([]byte("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
		"   0: 0100007F:1F90 0100007F:C822 01 00000000:00000000 00:00000000 00000000  1000        0 22222 1\n"))
	f.Add([]byte("0: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:C822 01 0:0 0:0 0 4242 0 1\n"))
	f.Add([]byte("0: : : : : : : : :\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		socks, err := ParseProcNetTCP(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, s := range socks {
			if !s.Local.IsValid() || !s.Remote.IsValid() || s.UID < 0 {
				t.Fatalf("parsed %+v", s)
			}
			if uid, err := socketOwner(socks, s.Local, s.Remote); err != nil || uid < 0 {
				t.Fatalf("socket %+v not found again: %v", s, err)
			}
		}
	})
}
