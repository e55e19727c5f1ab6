package main

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// latencyBench runs `escalationd run` with poll_interval 1h (so only IDLE
// wakes it) and measures APPEND-returned → ack-accepted per request.
func latencyBench(o options, dir, bin string) ([]row, error) {
	s, err := startServers()
	if err != nil {
		return nil, err
	}
	defer s.close()
	work := filepath.Join(dir, "latency")
	cfg, err := writeConfig(work, s.target(), "1h", 26214400)
	if err != nil {
		return nil, err
	}
	run, err := startRun(bin, work, cfg)
	if err != nil {
		return nil, err
	}
	defer run.stop()

	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	now := time.Now()
	if err := warmUp(ctx, s, run, now); err != nil {
		return nil, err
	}
	arrivals := watchAcks(ctx, s, o.latN)
	t0 := time.Now()
	appended, err := appendProbes(s, o.latN, o.latGap, now)
	if err != nil {
		return nil, err
	}
	lat := latencies(arrivals, appended)
	took := time.Since(t0)
	run.stop()
	rss, hwm := readRSS(run.rss)
	if len(lat) != o.latN {
		return nil, fmt.Errorf("latency: %d of %d acks arrived\n%s", len(lat), o.latN, tail(run.log, 20))
	}
	slices.Sort(lat)
	p := func(q float64) time.Duration {
		return lat[int(math.Ceil(q*float64(len(lat))))-1]
	}
	logf("latency: %d requests in %s: p50 %s p99 %s max %s", len(lat), took.Round(time.Millisecond), p(0.5), p(0.99), lat[len(lat)-1])
	return []row{{
		what: fmt.Sprintf("latency: `escalationd run` (IDLE, poll 1h), APPEND → ack at sink, %d requests %s apart", o.latN, o.latGap),
		msgs: fmt.Sprint(o.latN), took: dur(took), rate: rate(o.latN, took), rss: rssCell(rss, hwm),
		notes: fmt.Sprintf("**p50 %s, p99 %s**, min %s, max %s", p(0.5).Round(100*time.Microsecond), p(0.99).Round(100*time.Microsecond),
			lat[0].Round(100*time.Microsecond), lat[len(lat)-1].Round(100*time.Microsecond)),
	}}, nil
}

// warmUp appends one request and waits for its ack: then the daemon is
// connected and idling.
func warmUp(ctx context.Context, s *servers, run *daemonRun, now time.Time) error {
	if _, err := s.imap.Append("INBOX", request(0, "warmup@acme.test", "<warmup@acme.test>", "Warm-up", "", "", now, 0), time.Time{}); err != nil {
		return err
	}
	if _, err := s.smtp.Wait(ctx, 1); err != nil {
		return fmt.Errorf("warm-up ack: %w\n%s", err, tail(run.log, 20))
	}
	time.Sleep(200 * time.Millisecond) // let it settle back into IDLE
	return nil
}

// arrival is an ack accepted by the sink: its recipient and when.
type arrival struct {
	to string
	at time.Time
}

// watchAcks reports the n acks that follow the warm-up's as the sink
// accepts them. The channel is closed after the last one, or when ctx ends.
func watchAcks(ctx context.Context, s *servers, n int) <-chan arrival {
	arrivals := make(chan arrival, n+10)
	go func() {
		seen := 1
		for seen < n+1 {
			msgs, err := s.smtp.Wait(ctx, seen+1)
			at := time.Now()
			if err != nil {
				close(arrivals)
				return
			}
			for _, m := range msgs[seen:] {
				if len(m.To) > 0 {
					arrivals <- arrival{strings.ToLower(m.To[0]), at}
				}
			}
			seen = len(msgs)
		}
		close(arrivals)
	}()
	return arrivals
}

// appendProbes appends n requests gap apart, request i from
// lat+NNNN@acme.test, and returns when each APPEND returned.
func appendProbes(s *servers, n int, gap time.Duration, date time.Time) ([]time.Time, error) {
	appended := make([]time.Time, n)
	tick := time.NewTicker(gap)
	defer tick.Stop()
	for i := range n {
		from := fmt.Sprintf("lat+%04d@acme.test", i)
		raw := request(i, from, fmt.Sprintf("<lat-%d@acme.test>", i), fmt.Sprintf("Latency probe %d", i), "", "", date, 0)
		if _, err := s.imap.Append("INBOX", raw, time.Time{}); err != nil {
			return nil, err
		}
		appended[i] = time.Now()
		if i < n-1 {
			<-tick.C
		}
	}
	return appended, nil
}

// latencies waits for the arrivals and returns, for each probe's ack, the
// time from its APPEND to its arrival.
func latencies(arrivals <-chan arrival, appended []time.Time) []time.Duration {
	lat := make([]time.Duration, 0, len(appended))
	for a := range arrivals {
		var i int
		if _, err := fmt.Sscanf(a.to, "lat+%04d@acme.test", &i); err != nil || i < 0 || i >= len(appended) {
			continue
		}
		lat = append(lat, a.at.Sub(appended[i]))
	}
	return lat
}
