package localmail

import (
	"net"
	"testing"
)

// recordConn is a net.Conn that keeps what is written to it.
type recordConn struct {
	net.Conn
	out []byte
}

func (c *recordConn) Write(p []byte) (int, error) {
	c.out = append(c.out, p...)
	return len(p), nil
}

func TestCapFilterConn(t *testing.T) {
	in := "* OK [CAPABILITY IMAP4rev1 SASL-IR IDLE] ready\r\n" +
		"* CAPABILITY IMAP4rev1 UNSELECT IDLE ENABLE\r\n" +
		"* 1 FETCH (BODY[] {31}\r\n* CAPABILITY IMAP4rev1 IDLE\r\n\r\n)\r\n" +
		"a OK [CAPABILITY IMAP4rev1 IDLE] done\r\n"
	want := "* OK [CAPABILITY IMAP4rev1 SASL-IR] ready\r\n" +
		"* CAPABILITY IMAP4rev1 UNSELECT ENABLE\r\n" +
		"* 1 FETCH (BODY[] {31}\r\n* CAPABILITY IMAP4rev1 IDLE\r\n\r\n)\r\n" +
		"a OK [CAPABILITY IMAP4rev1] done\r\n"
	// Whatever the write boundaries, the result is the same.
	for _, size := range []int{1, 2, 7, 40, len(in)} {
		rc := &recordConn{}
		c := &capFilterConn{Conn: rc, drop: []string{"IDLE"}}
		for rest := in; rest != ""; {
			k := min(size, len(rest))
			if n, err := c.Write([]byte(rest[:k])); n != k || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
			rest = rest[k:]
		}
		if string(rc.out) != want {
			t.Errorf("chunks of %d:\n got %q\nwant %q", size, rc.out, want)
		}
	}
}
