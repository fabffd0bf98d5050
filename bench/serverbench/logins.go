package main

import (
	"bytes"
	"callvault/bench/internal/benchkit"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// loginsScenario is issue 9's login flood, on a server of its own started
// with -trusted-proxies 127.0.0.1/32 (so that the benchmark can play many
// client addresses with X-Forwarded-For) and -metrics-addr "" (metrics on
// the main listener, for the administrator):
//
//  1. -logins parallel bad logins of one user from one address: how many
//     passwords the server checked (the limiter reserves each attempt
//     before hashing: at most 5) and how the rest were answered;
//  2. -logins parallel bad logins of distinct unknown users from distinct
//     addresses, which all pass the limiter, so only the bound on password
//     checks (argon2id, 19 MiB each) holds the server's memory: peak RSS,
//     with, at the same time, Basic-auth requests of users who logged in
//     before (remembered checks, as rcbs's requests are) and first logins
//     of new users from new addresses, with their latencies.
func (st *state) loginsScenario(ctx context.Context) (*section, error) {
	o := st.o
	sec := &section{title: fmt.Sprintf("Logins: %d parallel bad logins (one user from one address, then distinct users from distinct addresses)", o.logins)}
	srv, err := startServer(ctx, st.bin, st.dir, serverSpec{name: "logins", args: []string{"-trusted-proxies", "127.0.0.1/32", "-metrics-addr", ""}})
	if err != nil {
		return sec, err
	}
	st.started = append(st.started, srv)
	defer srv.stop()
	client := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 1024, DisableCompression: true}, Timeout: 2 * time.Minute}

	type answer struct {
		status int
		took   time.Duration
	}
	get := func(login, password, addr string) answer {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.base+"/api/v2/me", nil)
		if err != nil {
			return answer{status: -1}
		}
		req.SetBasicAuth(login, password)
		req.Header.Set("X-Forwarded-For", addr)
		t0 := time.Now()
		res, err := client.Do(req)
		if err != nil {
			return answer{status: -1, took: time.Since(t0)}
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return answer{status: res.StatusCode, took: time.Since(t0)}
	}
	checks := func() (float64, error) {
		req, _ := srv.request(ctx, http.MethodGet, "/metrics", adminLogin, adminPassword, nil, 0)
		b, err := srv.call(req, http.StatusOK, true)
		if err != nil {
			return 0, err
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "callvault_login_password_checks_total "); ok {
				return strconv.ParseFloat(v, 64)
			}
		}
		return 0, fmt.Errorf("no callvault_login_password_checks_total in /metrics")
	}
	statusCounts := func(as []answer) string {
		counts := map[int]int{}
		for _, a := range as {
			counts[a.status]++
		}
		var parts []string
		for _, code := range []int{200, 401, 429, 503, -1} {
			if counts[code] > 0 {
				name := strconv.Itoa(code)
				if code == -1 {
					name = "transport error"
				}
				parts = append(parts, fmt.Sprintf("%d × %s", counts[code], name))
			}
		}
		return strings.Join(parts, ", ")
	}

	// Users who log in during the flood: known ones (logged in before,
	// from their own address) and new ones.
	const users = 20
	for i := range users * 2 {
		doc := fmt.Sprintf(`{"userName":"user%02d","password":"password-user%02d","roles":["agent"]}`, i, i)
		req, _ := srv.request(ctx, http.MethodPost, "/api/v2/users", adminLogin, adminPassword, bytes.NewReader([]byte(doc)), int64(len(doc)))
		req.Header.Set("Content-Type", "application/json")
		if _, err := srv.call(req, http.StatusCreated, false); err != nil {
			return sec, err
		}
	}
	for i := range users {
		if a := get(fmt.Sprintf("user%02d@%s", i, tenant), fmt.Sprintf("password-user%02d", i), fmt.Sprintf("192.0.2.%d", i+1)); a.status != 200 {
			return sec, fmt.Errorf("known user %d: status %d", i, a.status)
		}
	}

	// 1. One user, one address.
	before, err := checks()
	if err != nil {
		return sec, err
	}
	one := make([]answer, o.logins)
	var wg sync.WaitGroup
	for i := range o.logins {
		wg.Go(func() { one[i] = get(adminLogin, fmt.Sprintf("guess-%d", i), "203.0.113.7") })
	}
	wg.Wait()
	after, err := checks()
	if err != nil {
		return sec, err
	}
	sec.add("bad logins of one user from one address: password checks", fmt.Sprintf("%.0f of %d", after-before, o.logins), "≤ 5")
	sec.add("… answers", statusCounts(one), "401 for the checked, 429 with Retry-After for the rest")

	// 2. Distinct users from distinct addresses, with good logins meanwhile.
	resetErr := benchkit.ResetPeakRSS(srv.pid)
	rssBefore, err := benchkit.ProcStatus(srv.pid, "VmRSS")
	if err != nil {
		return sec, err
	}
	flood := make([]answer, o.logins)
	known := make([]answer, users)
	fresh := make([]answer, users)
	t0 := time.Now()
	for i := range o.logins {
		wg.Go(func() {
			flood[i] = get(fmt.Sprintf("ghost%06d@%s", i, tenant), "wrong password", fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255+1))
		})
	}
	for i := range users {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * 10 * time.Millisecond)
			known[i] = get(fmt.Sprintf("user%02d@%s", i, tenant), fmt.Sprintf("password-user%02d", i), fmt.Sprintf("192.0.2.%d", i+1))
		})
		wg.Go(func() {
			time.Sleep(time.Duration(i) * 10 * time.Millisecond)
			n := users + i
			fresh[i] = get(fmt.Sprintf("user%02d@%s", n, tenant), fmt.Sprintf("password-user%02d", n), fmt.Sprintf("198.51.100.%d", i+1))
		})
	}
	wg.Wait()
	took := time.Since(t0)
	peak, err := benchkit.ProcStatus(srv.pid, "VmHWM")
	if err != nil {
		return sec, err
	}
	latencies := func(as []answer) lat {
		l := make(lat, 0, len(as))
		for _, a := range as {
			l = append(l, a.took)
		}
		return l.sorted()
	}
	sec.add("bad logins of distinct users from distinct addresses: answers", statusCounts(flood)+" in "+ms(took), "401, or 503 with Retry-After when the checks are full")
	sec.add("server peak RSS during them", fmt.Sprintf("%d MB (%d MB before)", peak*1024/1_000_000, rssBefore*1024/1_000_000), "≤ 150 MB")
	kl, fl := latencies(known), latencies(fresh)
	sec.add("meanwhile: Basic auth of users who logged in before", fmt.Sprintf("%s; p50 %s, p99 %s", statusCounts(known), ms(kl.pct(0.5)), ms(kl.pct(0.99))), "all 200, p99 ≤ 500 ms")
	sec.add("meanwhile: first logins of new users from new addresses", fmt.Sprintf("%s; p50 %s, p99 %s", statusCounts(fresh), ms(fl.pct(0.5)), ms(fl.pct(0.99))), "answered (200, or 503 with Retry-After)")
	if resetErr != nil {
		sec.note("VmHWM could not be reset (%v): the peak covers the server's life so far", resetErr)
	}
	sec.note("The server ran with -trusted-proxies 127.0.0.1/32: each request's X-Forwarded-For is its client address. Known users' checks are remembered (5 minutes), as for rcbs's Basic auth; new users need an argon2id check each and queue with the flood.")
	return sec, nil
}
