package web_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"callvault/internal/samples"
)

// chromiumPath is Debian's chromium. The browser tests fail without it:
// CI must install it (apt-get install chromium fonts-noto-core
// fonts-noto-cjk).
const chromiumPath = "/usr/bin/chromium"

// ScreenshotsEnv names a directory to save the main screens to as PNG,
// e.g. CALLVAULT_UI_SCREENSHOTS=$PWD/docs/ui.
const ScreenshotsEnv = "CALLVAULT_UI_SCREENSHOTS"

func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("Chromium is required for the browser tests: %v (apt-get install chromium)", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("mute-audio", true),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("cannot start Chromium: %v", err)
	}
	return ctx
}

func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func get[T any](t *testing.T, ctx context.Context, what string, action chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv(ScreenshotsEnv)
	if dir == "" {
		return
	}
	png := get(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBrowser(t *testing.T) {
	e := newEnv(t).withSamples()
	s1, s2 := samples.Recordings()[0], samples.Recordings()[1]
	ctx := newBrowser(t)
	base := e.http.URL
	count := func(selector string) int {
		return get(t, ctx, "count "+selector, chromedp.Evaluate[int](`document.querySelectorAll(`+"`"+selector+"`"+`).length`))
	}
	text := func(sel chromedp.CSS) string { return get(t, ctx, "text of "+string(sel), chromedp.Text(sel)) }

	login := func(user, password string) {
		run(t, ctx, "log in as "+user,
			chromedp.Navigate(base+"/login"),
			chromedp.WaitVisible(chromedp.ID("user")),
			chromedp.SendKeys(chromedp.ID("user"), user),
			chromedp.SendKeys(chromedp.ID("password"), password),
			chromedp.Submit(chromedp.ID("login-form")),
			chromedp.WaitVisible(chromedp.ID("search-form")),
		)
	}

	// Log in and search.
	run(t, ctx, "login page", chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.ID("user")))
	screenshot(t, ctx, "login")
	login("admin@acme", adminPassword)
	run(t, ctx, "search",
		chromedp.SetValue(chromedp.ID("caller"), "+1905*"),
		chromedp.Click(chromedp.ID("search")),
	)
	// The new page's input carries the filter as its attribute.
	run(t, ctx, "results", chromedp.WaitVisible(chromedp.CSS(`#caller[value="+1905*"]`)), chromedp.WaitVisible(chromedp.ID("results")))
	if n := count("#results tbody tr"); n != 1 { // only the first example has a +1905 caller
		t.Fatalf("search for +1905*: %d rows", n)
	}
	run(t, ctx, "all", chromedp.Navigate(base+"/recordings"), chromedp.WaitVisible(chromedp.ID("results")))
	if n := count("#results tbody tr"); n != 2 {
		t.Fatalf("admin sees %d recordings, want 2", n)
	}
	screenshot(t, ctx, "search")

	// Open the recording; play and seek the audio through Range.
	run(t, ctx, "open recording",
		chromedp.Navigate(base+"/recordings?caller=%2B1905*"),
		chromedp.Click(chromedp.CSS("a.rec-link")),
		chromedp.WaitVisible(chromedp.ID("timeline")),
	)
	if title := text("h1"); !strings.Contains(title, s1.ID) {
		t.Fatalf("recording page title %q", title)
	}
	type playerState struct {
		Duration, Seeked, Played float64
		Video                    bool
	}
	player := get(t, ctx, "play and seek", chromedp.Evaluate[playerState](`(async () => {
		const a = document.querySelector("audio");
		const until = (ok, what) => new Promise((resolve, reject) => {
			const t0 = Date.now();
			const tick = () => ok() ? resolve() : Date.now() - t0 > 20000 ? reject(new Error("timeout: " + what)) : setTimeout(tick, 50);
			tick();
		});
		a.load();
		await until(() => a.readyState >= 1 && isFinite(a.duration) && a.duration > 0, "duration");
		a.currentTime = a.duration / 2;
		await until(() => !a.seeking && a.currentTime >= a.duration / 2 - 0.5, "seek");
		const seeked = a.currentTime;
		await a.play();
		await until(() => a.currentTime > seeked + 0.3, "playback");
		a.pause();
		const v = document.querySelector("video");
		return {Duration: a.duration, Seeked: seeked, Played: a.currentTime, Video: !!v && v.src.includes("/play/")};
	})()`, chromedp.EvalAwaitPromise))
	if player.Duration < 5 || player.Seeked < player.Duration/2-0.5 || player.Played <= player.Seeked || !player.Video {
		t.Fatalf("player: %+v", player)
	}
	t.Logf("audio: duration %.1fs, seeked to %.1fs, played to %.1fs", player.Duration, player.Seeked, player.Played)
	screenshot(t, ctx, "recording")

	// Upload a certificate made by the guide's commands: its fields fill
	// in before saving.
	certPath, keyPath := guideCert(t, t.TempDir(), "browser")
	run(t, ctx, "choose certificate",
		chromedp.Navigate(base+"/admin/certificates?upload=1"),
		chromedp.WaitVisible(chromedp.ID("upload-form")),
		chromedp.SetUploadFiles(chromedp.ID("certificate"), []string{certPath}),
	)
	get(t, ctx, "fields filled", chromedp.Poll[bool](`document.querySelector("#serialNumber").value !== ""`, chromedp.WithPollingTimeout(10*time.Second)))
	type certFields struct{ SubjectName, SerialNumber, SubjectDN, IssuerDN string }
	fields := get(t, ctx, "fields", chromedp.Evaluate[certFields](`({SubjectName: subjectName.value, SerialNumber: serialNumber.value, SubjectDN: subjectDN.value, IssuerDN: issuerDN.value})`))
	if fields.SubjectName != "Genesys Recording <Email not set>" || fields.SubjectDN != "CN=Genesys Recording,C=US,ST=California,O=Genesys" ||
		fields.IssuerDN != fields.SubjectDN || fields.SerialNumber == "" {
		t.Fatalf("upload panel: %+v", fields)
	}
	screenshot(t, ctx, "certificate-upload")
	run(t, ctx, "save certificate",
		chromedp.SetUploadFiles(chromedp.ID("key"), []string{keyPath}),
		chromedp.Click(chromedp.ID("upload-save")),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	if flash := text(".flash"); flash != "Certificate uploaded." {
		t.Fatalf("after upload: %q", flash)
	}
	if n := count("#certs tbody tr"); n != 2 {
		t.Fatalf("%d certificates listed, want 2", n)
	}
	if !strings.Contains(text("#certs"), fields.SubjectName) {
		t.Fatal("the list lacks the uploaded certificate")
	}
	screenshot(t, ctx, "certificates")

	// Delete the certificate in use: the refusal is shown.
	run(t, ctx, "delete in use",
		chromedp.Navigate(base+"/admin/certificates/"+e.alias),
		chromedp.Click(chromedp.ID("delete-open")),
		chromedp.WaitVisible(chromedp.ID("delete-confirm")),
		chromedp.Click(chromedp.ID("delete-confirm")),
		chromedp.WaitVisible(chromedp.ID("error")),
	)
	if refusal := text("#error"); !strings.Contains(refusal, "The server refused to delete the certificate") || !strings.Contains(refusal, "still encrypts stored recordings") {
		t.Fatalf("refusal: %q", refusal)
	}
	screenshot(t, ctx, "certificate-delete-refused")

	run(t, ctx, "screen certificates", chromedp.Navigate(base+"/admin/screen-certificates"), chromedp.WaitVisible(chromedp.ID("screen-form")))
	screenshot(t, ctx, "screen-certificates")
	run(t, ctx, "users", chromedp.Navigate(base+"/admin/users"), chromedp.WaitVisible(chromedp.ID("users")))
	screenshot(t, ctx, "users")

	// Arabic, right to left, chosen with the switcher and remembered.
	run(t, ctx, "switch to Arabic",
		chromedp.Navigate(base+"/recordings"),
		chromedp.SetValue(chromedp.ID("lang-select"), "ar"),
	)
	// SetValue fires "change": the switcher's script applies the choice.
	run(t, ctx, "Arabic recording",
		chromedp.WaitVisible(chromedp.CSS(`html[dir="rtl"]`)),
		chromedp.Navigate(base+"/recordings/"+s1.ID),
		chromedp.WaitVisible(chromedp.ID("timeline")),
	)
	if dir, heading := get(t, ctx, "dir", chromedp.Evaluate[string](`document.documentElement.dir`)), text("#timeline-h"); dir != "rtl" || heading != "سجل الأحداث" {
		t.Fatalf("Arabic page: dir %q, heading %q", dir, heading)
	}
	screenshot(t, ctx, "recording-ar")
	run(t, ctx, "Japanese",
		chromedp.Navigate(base+"/lang?lang=ja-JP&next=/admin/certificates"),
		chromedp.WaitVisible(chromedp.ID("certs")),
	)
	if lang, heading := get(t, ctx, "lang", chromedp.Evaluate[string](`document.documentElement.lang`)), text("h1"); lang != "ja-JP" || heading != "録音証明書" {
		t.Fatalf("Japanese page: lang %q, heading %q", lang, heading)
	}
	screenshot(t, ctx, "certificates-ja")
	run(t, ctx, "back to English", chromedp.Navigate(base+"/lang?lang=en-US&next=/recordings"), chromedp.WaitVisible(chromedp.ID("search-form")))

	// An agent sees only their own calls.
	run(t, ctx, "logout", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login-form")))
	login("agent_103001@acme", "password-agent_103001")
	ids := get(t, ctx, "agent's list", chromedp.Evaluate[[]string](`[...document.querySelectorAll("a.rec-link")].map(a => decodeURIComponent(a.pathname.split("/").pop()))`))
	if len(ids) != 1 || ids[0] != s1.ID {
		t.Fatalf("agent sees %v, want only %s", ids, s1.ID)
	}
	if n := count(`a[href^="/admin/"]`); n != 0 {
		t.Fatalf("agent has %d administration links", n)
	}
	screenshot(t, ctx, "search-agent")
	run(t, ctx, "another's recording", chromedp.Navigate(base+"/recordings/"+s2.ID), chromedp.WaitVisible(chromedp.ID("error")))
	if status := text("#error"); status != "Not found." {
		t.Fatalf("another's recording says %q", status)
	}
}
