package httpapi

import (
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"strings"

	"callvault/internal/service"
	"callvault/internal/vault"
)

// maxCertUpload bounds the multipart form of a certificate upload: PEM
// files are a few KB.
const maxCertUpload = 1 << 20

// formFile reads an uploaded file of the form. PEM pasted into a text
// field is taken only from our own pages (same-origin). This narrows what
// a plain HTML form on another site can forge (it cannot attach files);
// script on another site can attach them, so what stops a cross-site
// upload is the origin check of every state-changing call (guard).
func formFile(form *multipart.Form, name string, sameOrigin bool) ([]byte, error) {
	files := form.File[name]
	if len(files) == 0 {
		if v := form.Value[name]; len(v) > 0 {
			if !sameOrigin {
				return nil, vault.Errorf(vault.EINVALID, "%s: send the PEM as a file (multipart file part), not as a text field", name)
			}
			return []byte(v[0]), nil
		}
		return nil, nil
	}
	f, err := files[0].Open()
	if err != nil {
		return nil, vault.Wrap(vault.EINVALID, err, "cannot read %s", name)
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxCertUpload))
}

func (s *Server) uploadCertificate(w http.ResponseWriter, r *http.Request, u *vault.User) {
	r.Body = http.MaxBytesReader(w, r.Body, maxCertUpload)
	if err := r.ParseMultipartForm(maxCertUpload); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.writeError(w, r, vault.Errorf(vault.ETOOLARGE, "the upload is larger than %d bytes", maxCertUpload))
			return
		}
		s.writeError(w, r, vault.Errorf(vault.EINVALID, "send multipart/form-data with the fields certificate, key and optional password and assign"))
		return
	}
	defer r.MultipartForm.RemoveAll()
	sameOrigin := s.Site.SameOrigin(r)
	certPEM, err := formFile(r.MultipartForm, "certificate", sameOrigin)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	keyPEM, err := formFile(r.MultipartForm, "key", sameOrigin)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var assign []vault.Usage
	for _, v := range r.MultipartForm.Value["assign"] {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				assign = append(assign, vault.Usage(part))
			}
		}
	}
	password := r.FormValue("password")
	c, err := s.Svc.UploadCertificate(r.Context(), u, certPEM, keyPEM, []byte(password), assign)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, c)
}

func (s *Server) listCertificates(w http.ResponseWriter, r *http.Request, u *vault.User) {
	list, err := s.Svc.Certificates(r.Context(), u, r.URL.Query().Get("q"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if list == nil {
		list = []vault.Certificate{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"certificates": list})
}

func (s *Server) getCertificate(w http.ResponseWriter, r *http.Request, u *vault.User) {
	c, err := s.Svc.Certificate(r.Context(), u, r.PathValue("alias"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) assignCertificate(on bool) handlerWithUser {
	return func(w http.ResponseWriter, r *http.Request, u *vault.User) {
		usage := r.URL.Query().Get("usage")
		if usage == "" {
			s.writeError(w, r, vault.Errorf(vault.EINVALID, "give usage=voice or usage=screen"))
			return
		}
		c, err := s.Svc.SetUsage(r.Context(), u, r.PathValue("alias"), vault.Usage(usage), on)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, c)
	}
}

func (s *Server) deleteCertificate(w http.ResponseWriter, r *http.Request, u *vault.User) {
	if err := s.Svc.DeleteCertificate(r.Context(), u, r.PathValue("alias")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, u *vault.User) {
	writeJSON(w, http.StatusOK, userJSON(u))
}

// userJSON is a user as the API shows it: never the password hash.
func userJSON(u *vault.User) map[string]any {
	groups := u.AccessGroups
	if groups == nil {
		groups = []string{}
	}
	return map[string]any{
		"userName": u.Name, "tenant": u.Tenant, "login": u.Name + "@" + u.Tenant, "roles": u.Roles,
		"firstName": u.FirstName, "lastName": u.LastName, "email": u.Email, "disabled": u.Disabled,
		"agentHierarchy": u.AgentHierarchy, "accessGroups": groups, "createdAt": u.CreatedAt, "updatedAt": u.UpdatedAt,
	}
}

func (s *Server) rcbsSettings(w http.ResponseWriter, r *http.Request, u *vault.User) {
	settings, err := s.Svc.Settings(u)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"mediaSource":    settings.MediaSource,
		"s3":             settings.S3,
		"recordingsUri":  s.Site.Base(r) + "/api/v2/recordings",
		"tenant":         u.Tenant,
		"encryptedMedia": true,
	})
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, u *vault.User) {
	var in service.UserInput
	if err := decodeJSON(r, 64<<10, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	created, err := s.Svc.CreateUser(r.Context(), u, in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, userJSON(created))
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, u *vault.User) {
	users, err := s.Svc.Users(r.Context(), u)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]map[string]any, len(users))
	for i := range users {
		out[i] = userJSON(&users[i])
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, u *vault.User) {
	found, err := s.Svc.User(r.Context(), u, r.PathValue("userName"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, userJSON(found))
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, u *vault.User) {
	var in service.UserInput
	if err := decodeJSON(r, 64<<10, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	updated, err := s.Svc.UpdateUser(r.Context(), u, r.PathValue("userName"), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, userJSON(updated))
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, u *vault.User) {
	if err := s.Svc.DeleteUser(r.Context(), u, r.PathValue("userName")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
