package mailin

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/escalationd/escalationd/internal/durable"
)

// With limits.max_message_bytes raised to 100 MiB, a message carrying a
// 50 MiB attachment is archived and parsed while the heap stays under
// 32 MiB above where it started, and the attachment is saved byte for byte.
//
// The message is generated on the fly into a temp file (never whole in
// memory), then goes through what the poller does with a fetched message
// once the literal is on the wire: archive (stream to the raw archive, with
// its SHA-256) and Parse from the archived file. The IMAP transfer itself is
// left out: the in-process server (internal/localmail) keeps every message
// in RAM in this same process, so its copy would swamp the measurement, and a
// subprocess daemon is out of scope here.
func TestParseFiftyMiBAttachmentHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and parses a 67 MiB message")
	}
	if raceEnabled {
		t.Skip("too slow under the race detector")
	}
	const (
		size            = 50 << 20
		maxMessageBytes = 100 << 20
		maxHeapGrowth   = 32 << 20
	)
	dir := t.TempDir()
	msgPath := filepath.Join(dir, "big.eml")
	want := writeBigMessage(t, msgPath, size)
	st, err := os.Stat(msgPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > maxMessageBytes {
		t.Fatalf("message is %d bytes, over the %d max_message_bytes", st.Size(), maxMessageBytes)
	}

	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	heap := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	runtime.GC()
	runtime.GC()
	base := heap()
	stop, peakc := make(chan struct{}), make(chan uint64, 1)
	samples := 0
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			samples++
			select {
			case <-stop:
				peakc <- peak
				return
			case <-tick.C:
			}
		}
	}()

	start := time.Now()
	src, err := os.Open(msgPath)
	if err != nil {
		t.Fatal(err)
	}
	rawDir := filepath.Join(dir, "raw")
	if err := os.MkdirAll(rawDir, 0o750); err != nil {
		t.Fatal(err)
	}
	rawRoot, err := durable.OpenRoot(rawDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rawRoot.Close()
	raw, err := archive(rawRoot, src)
	src.Close()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(raw.path)
	if err != nil {
		t.Fatal(err)
	}
	in, err := Parse(f, ParseOptions{SpoolDir: filepath.Join(dir, "spool")})
	f.Close()
	close(stop)
	peak := max(<-peakc, heap())
	if err != nil {
		t.Fatal(err)
	}
	growth := int64(peak) - int64(base)
	t.Logf("message %d bytes, archive+parse %v: heap objects baseline %d KiB, peak %d KiB (%d samples), growth %d KiB",
		st.Size(), time.Since(start).Round(time.Millisecond), base>>10, peak>>10, samples, growth>>10)
	if growth >= maxHeapGrowth {
		t.Errorf("heap grew by %d MiB while handling a %d MiB attachment, want < %d MiB", growth>>20, size>>20, maxHeapGrowth>>20)
	}

	if len(in.Attachments) != 1 {
		t.Fatalf("%d attachments, want 1", len(in.Attachments))
	}
	a := in.Attachments[0]
	if a.Name != "dump.bin" || a.Size != size {
		t.Errorf("attachment %q of %d bytes, want dump.bin of %d", a.Name, a.Size, size)
	}
	got, err := os.Open(a.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	h := sha256.New()
	if _, err := io.Copy(h, got); err != nil {
		t.Fatal(err)
	}
	if [32]byte(h.Sum(nil)) != want {
		t.Error("saved attachment differs from what was sent")
	}
}

// writeBigMessage writes a message with a base64 attachment of size random
// bytes to path, streaming, and returns the attachment's SHA-256.
func writeBigMessage(t *testing.T, path string, size int) [32]byte {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 64<<10)
	io.WriteString(w, "From: Big Sender <big@example.com>\r\nTo: escalations@example.com\r\n"+
		"Subject: core dump\r\nMessage-ID: <big-1@example.com>\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/mixed; boundary=BIG\r\n\r\n"+
		"--BIG\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee attached\r\n"+
		"--BIG\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=dump.bin\r\n"+
		"Content-Transfer-Encoding: base64\r\n\r\n")
	h := sha256.New()
	enc := base64.NewEncoder(base64.StdEncoding, &lineWriter{w: w})
	rng := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 48<<10)
	for n := 0; n < size; n += len(buf) {
		chunk := buf[:min(len(buf), size-n)]
		for i := range chunk {
			chunk[i] = byte(rng.Uint32())
		}
		h.Write(chunk)
		enc.Write(chunk)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "\r\n--BIG--\r\n")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}
