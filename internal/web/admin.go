package web

import (
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"callvault/internal/certs"
	"callvault/internal/httpx"
	"callvault/internal/service"
	"callvault/internal/vault"
)

type certsData struct {
	Query string
	Certs []vault.Certificate
	// The upload panel, re-shown with its fields after a refused upload.
	Upload bool
}

// certificates is the guide's "Recording Certificates" screen: the list
// with a quick filter and a refresh, and the Upload panel.
func (u *UI) certificates(w http.ResponseWriter, r *http.Request, p *page) {
	p.Nav, p.Title = "certificates", p.L.T("cert_title")
	q := r.URL.Query().Get("q")
	list, err := u.svc.Certificates(r.Context(), p.User, q)
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	switch r.URL.Query().Get("done") {
	case "uploaded":
		p.Flash = p.L.T("cert_uploaded")
	case "deleted":
		p.Flash = p.L.T("cert_deleted")
	}
	p.Data = &certsData{Query: q, Certs: list, Upload: r.URL.Query().Get("upload") != ""}
	u.render(w, http.StatusOK, "certificates", p)
}

// certData is a certificate's page: its details and the tenant's other
// certificates, which the Re-wrap form offers as targets.
type certData struct {
	Cert   *vault.Certificate
	Others []vault.Certificate
}

func (u *UI) certificate(w http.ResponseWriter, r *http.Request, p *page) {
	u.renderCertificate(w, r, p, r.PathValue("alias"), http.StatusOK)
}

func (u *UI) renderCertificate(w http.ResponseWriter, r *http.Request, p *page, alias string, status int) {
	p.Nav = "certificates"
	c, err := u.svc.Certificate(r.Context(), p.User, alias)
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	list, err := u.svc.Certificates(r.Context(), p.User, "")
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	data := &certData{Cert: c}
	for _, other := range list {
		if other.Alias != c.Alias {
			data.Others = append(data.Others, other)
		}
	}
	p.Title = c.SubjectName
	p.Data = data
	u.render(w, status, "certificate", p)
}

func formFile(r *http.Request, name string) ([]byte, error) {
	f, _, err := r.FormFile(name)
	if err == http.ErrMissingFile {
		return nil, nil
	}
	if err != nil {
		return nil, vault.Wrap(vault.EINVALID, err, "%s: the file cannot be read", name)
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxForm))
}

// describeCertificate answers the fields the upload panel shows as soon as
// a certificate file is chosen, before saving: the same derivation the
// upload itself uses (certs.Describe).
func (u *UI) describeCertificate(w http.ResponseWriter, r *http.Request, p *page) {
	if !p.IsAdmin {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": p.L.T("err_forbidden")})
		return
	}
	data, err := formFile(r, "certificate")
	if err == nil && len(data) == 0 {
		err = vault.Errorf(vault.EINVALID, "choose the certificate file (PEM)")
	}
	var cert *certsInfo
	if err == nil {
		cert, err = describePEM(data)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": vault.ErrorMessage(err)})
		return
	}
	writeJSON(w, http.StatusOK, cert)
}

type certsInfo struct {
	SubjectName  string `json:"subjectName"`
	SerialNumber string `json:"serialNumber"`
	SubjectDN    string `json:"subjectDN"`
	IssuerDN     string `json:"issuerDN"`
	Expires      string `json:"expires"`
}

func describePEM(data []byte) (*certsInfo, error) {
	cert, err := certs.ParseCertificatePEM(data)
	if err != nil {
		return nil, vault.Wrap(vault.EINVALID, err, "%s", err.Error())
	}
	info := certs.Describe(cert)
	return &certsInfo{SubjectName: info.SubjectName, SerialNumber: info.SerialNumber, SubjectDN: info.SubjectDN,
		IssuerDN: info.IssuerDN, Expires: info.Expires.UTC().Format(time.DateOnly)}, nil
}

// writeJSON is the one JSON writer, shared with the API.
var writeJSON = httpx.WriteJSON

func (u *UI) uploadCertificate(w http.ResponseWriter, r *http.Request, p *page) {
	p.Nav, p.Title = "certificates", p.L.T("cert_title")
	certPEM, err := formFile(r, "certificate")
	var keyPEM []byte
	if err == nil {
		keyPEM, err = formFile(r, "key")
	}
	if err == nil {
		var assign []vault.Usage
		if r.PostFormValue("assignVoice") != "" {
			assign = append(assign, vault.UsageVoice)
		}
		_, err = u.svc.UploadCertificate(r.Context(), p.User, certPEM, keyPEM, []byte(r.PostFormValue("password")), assign)
	}
	if err != nil {
		if vault.ErrorCode(err) == vault.EFORBIDDEN {
			u.renderError(w, r, p, err)
			return
		}
		list, lerr := u.svc.Certificates(r.Context(), p.User, "")
		if lerr != nil {
			u.renderError(w, r, p, lerr)
			return
		}
		p.Error = errorText(p.L, err)
		p.Data = &certsData{Certs: list, Upload: true}
		u.render(w, statusFor(err), "certificates", p)
		return
	}
	http.Redirect(w, r, "/admin/certificates?done=uploaded", http.StatusSeeOther)
}

func (u *UI) confirmDelete(w http.ResponseWriter, r *http.Request, p *page) {
	p.Nav = "certificates"
	c, err := u.svc.Certificate(r.Context(), p.User, r.PathValue("alias"))
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	p.Title = p.L.T("delete_title", c.SubjectName)
	p.Data = c
	u.render(w, http.StatusOK, "delete", p)
}

// deleteCertificate asks the service, which refuses while stored media
// need the certificate; the refusal is shown on the confirmation page.
func (u *UI) deleteCertificate(w http.ResponseWriter, r *http.Request, p *page) {
	p.Nav = "certificates"
	alias := r.PathValue("alias")
	err := u.svc.DeleteCertificate(r.Context(), p.User, alias)
	if err == nil {
		http.Redirect(w, r, "/admin/certificates?done=deleted", http.StatusSeeOther)
		return
	}
	c, cerr := u.svc.Certificate(r.Context(), p.User, alias)
	if vault.ErrorCode(err) != vault.ECONFLICT || cerr != nil {
		u.renderError(w, r, p, err)
		return
	}
	p.Title = p.L.T("delete_title", c.SubjectName)
	p.Error = p.L.T("delete_refused") + " " + vault.ErrorMessage(err)
	p.Data = c
	u.render(w, http.StatusConflict, "delete", p)
}

type screenData struct {
	Assigned  []vault.Certificate // as the form now has it (maybe unsaved)
	Available []vault.Certificate // the "Select Certificate" list
	Pending   []string
	// RecordingWhen is the tenant's recordingWhen as the form has it.
	RecordingWhen string
	Dirty         bool
}

// screenCertificates is the guide's "Screen Recording Certificates"
// screen, with the tenant's recordingWhen setting. Add and Remove change
// a pending list carried in the form (no script needed); Save applies the
// difference and the setting; Cancel drops both.
func (u *UI) screenCertificates(w http.ResponseWriter, r *http.Request, p *page) {
	p.Nav, p.Title = "screen", p.L.T("screen_title")
	list, err := u.svc.Certificates(r.Context(), p.User, "")
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	settings, err := u.svc.ScreenSettings(r.Context(), p.User)
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	when := settings.RecordingWhen
	var stored []string
	for _, c := range list {
		if slices.Contains(c.Usage, vault.UsageScreen) {
			stored = append(stored, c.Alias)
		}
	}
	pending := stored
	if r.Method == http.MethodPost {
		pending = r.PostForm["pending"]
		if v := r.PostFormValue("recordingWhen"); v != "" {
			when = v
		}
		switch r.PostFormValue("op") {
		case "add":
			for _, a := range r.PostForm["add"] {
				if !slices.Contains(pending, a) {
					pending = append(pending, a)
				}
			}
		case "remove":
			pending = slices.DeleteFunc(slices.Clone(pending), func(a string) bool { return slices.Contains(r.PostForm["selected"], a) })
		case "save":
			if when != vault.ScreenWhenVoice && when != vault.ScreenWhenOff {
				// Checked before any change, so a bad form saves nothing.
				p.Error = p.L.T("err_invalid") + " recordingWhen: " + when
				when = settings.RecordingWhen
				break
			}
			for _, c := range list {
				on, was := slices.Contains(pending, c.Alias), slices.Contains(stored, c.Alias)
				if on == was {
					continue
				}
				if _, err := u.svc.SetUsage(r.Context(), p.User, c.Alias, vault.UsageScreen, on); err != nil {
					p.Error = errorText(p.L, err)
					break
				}
			}
			if p.Error == "" && when != settings.RecordingWhen {
				if err := u.svc.SetScreenSettings(r.Context(), p.User, vault.ScreenSettings{RecordingWhen: when}); err != nil {
					p.Error = errorText(p.L, err)
				}
			}
			if p.Error == "" {
				http.Redirect(w, r, "/admin/screen-certificates?done=saved", http.StatusSeeOther)
				return
			}
		default: // cancel
			http.Redirect(w, r, "/admin/screen-certificates", http.StatusSeeOther)
			return
		}
	} else if r.URL.Query().Get("done") == "saved" {
		p.Flash = p.L.T("saved")
	}
	data := &screenData{Pending: pending, RecordingWhen: when}
	for _, c := range list {
		if slices.Contains(pending, c.Alias) {
			data.Assigned = append(data.Assigned, c)
		} else {
			data.Available = append(data.Available, c)
		}
	}
	a, b := slices.Sorted(slices.Values(pending)), slices.Sorted(slices.Values(stored))
	data.Dirty = !slices.Equal(a, b) || when != settings.RecordingWhen
	p.Data = data
	status := http.StatusOK
	if p.Error != "" {
		status = http.StatusBadRequest
	}
	u.render(w, status, "screen", p)
}

type usersData struct {
	Users []vault.User
	Roles []string
	Edit  *vault.User
}

var allRoles = []string{string(vault.RoleAdmin), string(vault.RoleSupervisor), string(vault.RoleAgent), string(vault.RoleRecorder)}

func (u *UI) users(w http.ResponseWriter, r *http.Request, p *page) {
	u.renderUsers(w, r, p, nil, http.StatusOK)
}

func (u *UI) renderUsers(w http.ResponseWriter, r *http.Request, p *page, edit *vault.User, status int) {
	p.Nav, p.Title = "users", p.L.T("users_title")
	list, err := u.svc.Users(r.Context(), p.User)
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	switch r.URL.Query().Get("done") {
	case "saved":
		p.Flash = p.L.T("user_saved")
	case "deleted":
		p.Flash = p.L.T("user_deleted")
	}
	p.Data = &usersData{Users: list, Roles: allRoles, Edit: edit}
	u.render(w, status, "users", p)
}

func (u *UI) user(w http.ResponseWriter, r *http.Request, p *page) {
	edit, err := u.svc.User(r.Context(), p.User, r.PathValue("name"))
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	u.renderUsers(w, r, p, edit, http.StatusOK)
}

// userInput reads the user form: roles as checkboxes, access groups
// comma-separated, names and e-mail as typed, the password only when
// typed. The Disabled checkbox is read only from the edit form (edit):
// an unchecked box sends nothing.
func userInput(form url.Values, edit bool) service.UserInput {
	in := service.UserInput{UserName: strings.TrimSpace(form.Get("userName")), Roles: []vault.Role{}, AccessGroups: []string{}}
	first, last, email := form.Get("firstName"), form.Get("lastName"), form.Get("email")
	in.FirstName, in.LastName, in.Email = &first, &last, &email
	if edit {
		disabled := form.Get("disabled") != ""
		in.Disabled = &disabled
	}
	for _, role := range form["roles"] {
		in.Roles = append(in.Roles, vault.Role(role))
	}
	for _, g := range strings.Split(form.Get("accessGroups"), ",") {
		if g = strings.TrimSpace(g); g != "" {
			in.AccessGroups = append(in.AccessGroups, g)
		}
	}
	h := strings.TrimSpace(form.Get("agentHierarchy"))
	in.AgentHierarchy = &h
	if pw := form.Get("password"); pw != "" {
		in.Password = &pw
	}
	return in
}

func (u *UI) createUser(w http.ResponseWriter, r *http.Request, p *page) {
	in := userInput(r.PostForm, false)
	if _, err := u.svc.CreateUser(r.Context(), p.User, in); err != nil {
		if vault.ErrorCode(err) == vault.EFORBIDDEN {
			u.renderError(w, r, p, err)
			return
		}
		p.Error = errorText(p.L, err)
		u.renderUsers(w, r, p, nil, statusFor(err))
		return
	}
	http.Redirect(w, r, "/admin/users?done=saved", http.StatusSeeOther)
}

func (u *UI) updateUser(w http.ResponseWriter, r *http.Request, p *page) {
	name := r.PathValue("name")
	in := userInput(r.PostForm, true)
	in.UserName = ""
	if _, err := u.svc.UpdateUser(r.Context(), p.User, name, in); err != nil {
		if vault.ErrorCode(err) == vault.EFORBIDDEN {
			u.renderError(w, r, p, err)
			return
		}
		p.Error = errorText(p.L, err)
		edit, uerr := u.svc.User(r.Context(), p.User, name)
		if uerr != nil {
			u.renderError(w, r, p, uerr)
			return
		}
		u.renderUsers(w, r, p, edit, statusFor(err))
		return
	}
	http.Redirect(w, r, "/admin/users?done=saved", http.StatusSeeOther)
}

// confirmDeleteUser asks before deleting a user (the page works without
// script; the edit panel links to it).
func (u *UI) confirmDeleteUser(w http.ResponseWriter, r *http.Request, p *page) {
	p.Nav = "users"
	found, err := u.svc.User(r.Context(), p.User, r.PathValue("name"))
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	p.Title = p.L.T("delete_user_title", found.Name)
	p.Data = found
	u.render(w, http.StatusOK, "user-delete", p)
}

// deleteUser deletes the user (and ends their sessions); a refusal (for
// example of deleting oneself) is shown on the confirmation page.
func (u *UI) deleteUser(w http.ResponseWriter, r *http.Request, p *page) {
	p.Nav = "users"
	name := r.PathValue("name")
	err := u.svc.DeleteUser(r.Context(), p.User, name)
	if err == nil {
		http.Redirect(w, r, "/admin/users?done=deleted", http.StatusSeeOther)
		return
	}
	found, ferr := u.svc.User(r.Context(), p.User, name)
	if vault.ErrorCode(err) != vault.EINVALID || ferr != nil {
		u.renderError(w, r, p, err)
		return
	}
	p.Title = p.L.T("delete_user_title", found.Name)
	p.Error = errorText(p.L, err)
	p.Data = found
	u.render(w, statusFor(err), "user-delete", p)
}

// retentionData is the stored settings and what the form shows: the
// stored values, or after a refused save what was typed.
type retentionData struct {
	Days          int64 // stored, for the sentence above the form
	DaysValue     string
	RequireBackup bool
	WaitValue     string
	AuditValue    string
}

func storedRetention(rs vault.RetentionSettings) *retentionData {
	return &retentionData{Days: int64(rs.RetentionDays), DaysValue: strconv.Itoa(rs.RetentionDays), RequireBackup: rs.RequireBackup,
		WaitValue: strconv.Itoa(rs.MaxBackupWaitDays), AuditValue: strconv.Itoa(rs.AuditRetentionDays)}
}

func (u *UI) retention(w http.ResponseWriter, r *http.Request, p *page) {
	p.Nav, p.Title = "retention", p.L.T("retention_title")
	rs, err := u.svc.Retention(r.Context(), p.User)
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	if r.URL.Query().Get("done") == "saved" {
		p.Flash = p.L.T("saved")
	}
	p.Data = storedRetention(rs)
	u.render(w, http.StatusOK, "retention", p)
}

// wholeDays reads a period field: whole days from 0 to the maximum only
// ("0.5" or "1e3" is refused, never rounded into something else).
func wholeDays(l *Lang, label, typed string) (int, error) {
	days, err := strconv.ParseInt(typed, 10, 64)
	if err != nil || days < 0 || days > service.MaxRetentionDays {
		return 0, vault.Errorf(vault.EINVALID, "%s", l.T("err_whole_days", label, strconv.Itoa(service.MaxRetentionDays)))
	}
	return int(days), nil
}

// setRetention takes the retention period (required; 0 keeps recordings
// for ever) and the backup and audit settings the form carries. A field
// the form does not send keeps its stored value: the Require backup box
// counts only with the hidden field that says the form had it (an
// unchecked box sends nothing).
func (u *UI) setRetention(w http.ResponseWriter, r *http.Request, p *page) {
	p.Nav, p.Title = "retention", p.L.T("retention_title")
	rs, err := u.svc.Retention(r.Context(), p.User)
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	form := r.PostForm
	typed := func(name string) string { return strings.TrimSpace(form.Get(name)) }
	shown := storedRetention(rs)
	shown.DaysValue = typed("days")
	rs.RetentionDays, err = wholeDays(p.L, p.L.T("retention_days"), shown.DaysValue)
	for _, f := range []struct {
		name, label string
		value       *string
		dst         *int
	}{{"maxBackupWaitDays", p.L.T("max_backup_wait"), &shown.WaitValue, &rs.MaxBackupWaitDays},
		{"auditRetentionDays", p.L.T("audit_retention"), &shown.AuditValue, &rs.AuditRetentionDays}} {
		if _, ok := form[f.name]; !ok {
			continue
		}
		*f.value = typed(f.name)
		if err == nil {
			*f.dst, err = wholeDays(p.L, f.label, *f.value)
		}
	}
	if form.Get("requireBackupShown") != "" {
		rs.RequireBackup = form.Get("requireBackup") != ""
		shown.RequireBackup = rs.RequireBackup
	}
	if err == nil {
		err = u.svc.SetRetention(r.Context(), p.User, rs)
	}
	if err != nil {
		if vault.ErrorCode(err) == vault.EFORBIDDEN {
			u.renderError(w, r, p, err)
			return
		}
		p.Error = errorText(p.L, err)
		p.Data = shown
		u.render(w, statusFor(err), "retention", p)
		return
	}
	http.Redirect(w, r, "/admin/retention?done=saved", http.StatusSeeOther)
}
