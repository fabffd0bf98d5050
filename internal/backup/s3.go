package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"callvault/internal/apiclient"
)

// S3Config says where media lie in S3 and how to reach them: the bucket,
// prefix, region and endpoint come from the server's backup settings,
// the credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, the
// proxy and payload signing from config.properties.
type S3Config struct {
	Bucket string
	Prefix string // every storage key lies under it ("acme/"); "" for the whole bucket
	Region string // "" means us-east-1
	// Endpoint is "" for AWS S3 itself; else the S3-compatible store
	// (MinIO: "http://127.0.0.1:9000"), addressed path-style. Without a
	// scheme, https is assumed. It comes from the server, so it is used
	// only when its scheme, host and port are TrustedEndpoint's.
	Endpoint string
	// TrustedEndpoint is awsEndpoint from config.properties: the one
	// endpoint besides AWS's own that requests signed with the customer's
	// AWS key may go to. "" trusts none: a server that names an endpoint
	// gets *UntrustedEndpointError.
	TrustedEndpoint string

	AccessKeyID     string
	SecretAccessKey string // never logged or put in a message

	// Proxy is the host:port of an HTTP proxy for every S3 request
	// (awsProxyHost, awsProxyPort); "" uses the usual HTTPS_PROXY
	// environment, as the web service client does.
	Proxy string
	// PayloadSigning is usePayloadSigning. It would sign a hash of what
	// is uploaded; rcbs only downloads and lists, requests without a
	// payload, whose signature covers the hash of the empty body whatever
	// this says. So it changes nothing here and is kept only so that a
	// config file written for the guide's RCBS is accepted as it is.
	PayloadSigning bool

	// Attempts is how many times a transient fault (5xx, throttling, a
	// reset or timeout) is tried (default 5, as the web service client).
	Attempts int
	// Backoff gives the pause before retry n (n ≥ 1); default the SDK's
	// exponential backoff with jitter, at most 10 s.
	Backoff func(n int) time.Duration

	// Timeouts bound connecting, the answer's headers and pauses in a
	// body, as for the web service (zero fields: apiclient's defaults).
	Timeouts apiclient.Timeouts
}

// S3Source reads media straight from the bucket the server keeps them in.
type S3Source struct {
	cfg    S3Config
	client *s3.Client
}

// ErrS3Auth is returned when S3 refuses the credentials or the access
// (401, 403): retrying cannot help, and the run stops.
var ErrS3Auth = errors.New("S3 refused the credentials or the access (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")

// NewS3Source makes an S3 client for cfg; it sends no request.
func NewS3Source(cfg S3Config) (*S3Source, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("S3: no bucket")
	}
	if cfg.AccessKeyID == "" || cfg.SecretAccessKey == "" {
		return nil, errors.New("S3: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment")
	}
	if err := CheckS3Endpoint(cfg.Endpoint, cfg.TrustedEndpoint); err != nil {
		return nil, err
	}
	if cfg.Endpoint == "" && cfg.Region != "" && !awsRegion.MatchString(cfg.Region) {
		// With AWS's own endpoint the region becomes part of the host
		// name (s3.<region>.amazonaws.com): the server may not pick one
		// that is not a region.
		return nil, fmt.Errorf("S3: the server names the region %q, which is not an AWS region name", cfg.Region)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Attempts < 1 {
		cfg.Attempts = 5
	}
	var proxy func(*http.Request) (*url.URL, error)
	if cfg.Proxy != "" {
		proxyURL, err := url.Parse("http://" + cfg.Proxy)
		if err != nil || proxyURL.Host != cfg.Proxy {
			return nil, fmt.Errorf("S3: proxy %q: want host:port", cfg.Proxy)
		}
		proxy = http.ProxyURL(proxyURL)
	}
	cfg.Timeouts = cfg.Timeouts.WithDefaults()
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		if proxy != nil {
			tr.Proxy = proxy
		}
		tr.MaxIdleConnsPerHost = 64 // one per download thread
		tr.TLSHandshakeTimeout = cfg.Timeouts.Connect
		tr.ResponseHeaderTimeout = cfg.Timeouts.ResponseHeader
	}).WithDialerOptions(func(d *net.Dialer) { d.Timeout = cfg.Timeouts.Connect })
	opts := s3.Options{
		Region:      cfg.Region,
		Credentials: credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
		HTTPClient:  httpClient,
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = cfg.Attempts
			o.MaxBackoff = 10 * time.Second
			// No client-side retry quota: a long run through a flaky
			// link should keep retrying each request, not give up.
			o.RateLimiter = ratelimit.None
			if cfg.Backoff != nil {
				o.Backoff = retry.BackoffDelayerFunc(func(attempt int, _ error) (time.Duration, error) {
					return cfg.Backoff(attempt), nil
				})
			}
		}),
		// Every file's SHA-256 is checked against the server's record;
		// S3's own checksums would add nothing and some S3-compatible
		// stores do not send them.
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	if cfg.Endpoint != "" {
		endpoint := cfg.Endpoint
		if !strings.Contains(endpoint, "://") {
			endpoint = "https://" + endpoint
		}
		opts.BaseEndpoint = aws.String(endpoint)
		opts.UsePathStyle = true
	}
	return &S3Source{cfg: cfg, client: s3.New(opts)}, nil
}

// awsRegion is the shape of an AWS region name (us-east-1,
// eusc-de-east-1): one DNS label, so that it cannot move the host name
// out of amazonaws.com.
var awsRegion = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// UntrustedEndpointError is an S3 endpoint the server named that is not
// awsEndpoint in config.properties: nothing is sent there, and the run
// fails rather than fall back to the web service, so that the operator
// decides.
type UntrustedEndpointError struct {
	Endpoint string // as the server gave it
	Origin   string // its scheme, host and port; "" when unusable
	Trusted  string // awsEndpoint; "" when not set
}

func (e *UntrustedEndpointError) Error() string {
	if e.Origin == "" {
		return fmt.Sprintf("the server names the S3 endpoint %q, which is not an http:// or https:// address: rcbs did not read from S3", e.Endpoint)
	}
	set := "awsEndpoint is not set in config.properties"
	if e.Trusted != "" {
		set = "awsEndpoint in config.properties is " + e.Trusted
	}
	return fmt.Sprintf("the server names the S3 endpoint %s for its media, but %s: rcbs did not read from S3, so that no request signed with AWS_ACCESS_KEY_ID goes to a host the server chose; if you trust %[1]s, set awsEndpoint=%[1]s in config.properties",
		e.Origin, set)
}

// CheckS3Endpoint decides whether endpoint, named by the server, may be
// used: "" (AWS S3 itself) always; anything else only when its scheme,
// host (in any case) and port are those of trusted (awsEndpoint), else an
// *UntrustedEndpointError.
func CheckS3Endpoint(endpoint, trusted string) error {
	if endpoint == "" {
		return nil
	}
	got, err := EndpointOrigin(endpoint)
	if err != nil {
		return &UntrustedEndpointError{Endpoint: endpoint, Trusted: trusted}
	}
	if trusted != "" {
		if want, err := EndpointOrigin(trusted); err == nil && want == got {
			return nil
		}
	}
	return &UntrustedEndpointError{Endpoint: endpoint, Origin: got, Trusted: trusted}
}

// EndpointOrigin is the scheme, host and port of an S3 endpoint as one
// comparable string ("https://minio.example.com:9000"): the scheme and
// host in lower case, the port written out only when it is not the
// scheme's default. Without a scheme, https is assumed, as NewS3Source
// does. User info, a query or a fragment are refused.
func EndpointOrigin(endpoint string) (string, error) {
	raw := endpoint
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "http" && scheme != "https") || u.Hostname() == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("%q is not an http:// or https:// endpoint", endpoint)
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("%q: bad port", endpoint)
		}
		port = strconv.Itoa(n)
	}
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}

// Bucket is the bucket the source reads.
func (s *S3Source) Bucket() string { return s.cfg.Bucket }

// Endpoint is the S3-compatible endpoint the source reads from, or
// "AWS" for AWS S3 itself.
func (s *S3Source) Endpoint() string {
	if s.cfg.Endpoint == "" {
		return "AWS"
	}
	return s.cfg.Endpoint
}

// Prefix is the key prefix every storage key lies under.
func (s *S3Source) Prefix() string { return s.cfg.Prefix }

// Open reads the object storageKey from offset to its end (a resumed
// download asks for the rest). storageKey must lie under the prefix: the
// server names keys, and a tenant's backup reads nothing else.
func (s *S3Source) Open(ctx context.Context, storageKey string, offset int64) (io.ReadCloser, error) {
	if storageKey == "" || !strings.HasPrefix(storageKey, s.cfg.Prefix) {
		return nil, fmt.Errorf("S3 key %q is not under the prefix %q the server gave", storageKey, s.cfg.Prefix)
	}
	if offset < 0 {
		return nil, fmt.Errorf("S3 key %q: negative offset %d", storageKey, offset)
	}
	in := &s3.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(storageKey)}
	if offset > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	ctx, cancel := context.WithCancel(ctx)
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		cancel()
		return nil, s.fail("read", storageKey, err)
	}
	if offset > 0 && !strings.HasPrefix(aws.ToString(out.ContentRange), fmt.Sprintf("bytes %d-", offset)) {
		out.Body.Close()
		cancel()
		return nil, fmt.Errorf("s3://%s/%s: the range from %d was not honoured (Content-Range %q)", s.cfg.Bucket, storageKey, offset, aws.ToString(out.ContentRange))
	}
	return apiclient.WithReadTimeout(out.Body, s.cfg.Timeouts.Read, cancel, "s3://"+s.cfg.Bucket+"/"+storageKey), nil
}

// Verify checks that the prefix can be listed, as the guide's
// "-verify s3": one ListObjectsV2 of at most one key.
func (s *S3Source) Verify(ctx context.Context) error {
	_, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.cfg.Bucket), Prefix: aws.String(s.cfg.Prefix), MaxKeys: aws.Int32(1),
	})
	if err != nil {
		return s.fail("list", s.cfg.Prefix, err)
	}
	return nil
}

// fail explains an S3 error: ErrS3Auth with S3's own code and message for
// a refusal, else the SDK's error. No credential is part of either.
func (s *S3Source) fail(op, key string, err error) error {
	where := "s3://" + s.cfg.Bucket + "/" + key
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || (re.HTTPStatusCode() != http.StatusUnauthorized && re.HTTPStatusCode() != http.StatusForbidden) {
		return fmt.Errorf("cannot %s %s: %w", op, where, err)
	}
	msg := http.StatusText(re.HTTPStatusCode())
	var api smithy.APIError
	if errors.As(err, &api) {
		msg = api.ErrorCode()
		if m := api.ErrorMessage(); m != "" {
			msg += ": " + m
		}
	}
	return fmt.Errorf("%w: cannot %s %s: %s", ErrS3Auth, op, where, msg)
}
