package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Receipt says that a backup client holds a verified copy of one media
// file: SHA256 is the hex SHA-256 of the stored bytes it verified.
type Receipt struct {
	RecordingID string `json:"recordingId"`
	MediaID     string `json:"mediaId"`
	SHA256      string `json:"sha256"`
}

// RejectedReceipt is a receipt the server did not keep, and why.
type RejectedReceipt struct {
	RecordingID string `json:"recordingId"`
	MediaID     string `json:"mediaId"`
	Code        string `json:"code"`
	Message     string `json:"message"`
}

// ReceiptsAnswer is the server's answer to a batch of receipts.
type ReceiptsAnswer struct {
	Accepted int               `json:"accepted"`
	Rejected []RejectedReceipt `json:"rejected"`
}

// MaxReceiptsBatch is the most receipts one request carries.
const MaxReceiptsBatch = 500

// receiptsAnswerLimit bounds the answer to a batch: 500 rejections with
// their messages are far below it.
const receiptsAnswerLimit = 4 << 20

// PostReceipts sends one batch of at most MaxReceiptsBatch receipts to
// POST /backups/receipts (below the prefix, with the credentials and
// origin rules of every other call; transient faults are retried as for
// them). A server without the endpoint answers 404 (IsNotFound); a batch
// it finds malformed, another 4xx *Error with the server's code and
// message.
func (c *Client) PostReceipts(ctx context.Context, receipts []Receipt) (*ReceiptsAnswer, error) {
	if len(receipts) == 0 {
		return &ReceiptsAnswer{}, nil
	}
	if len(receipts) > MaxReceiptsBatch {
		return nil, fmt.Errorf("%d receipts in one batch; at most %d", len(receipts), MaxReceiptsBatch)
	}
	body, err := json.Marshal(receipts)
	if err != nil {
		return nil, err
	}
	u := c.URL("/backups/receipts")
	res, err := c.do(ctx, func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
		return req, err
	})
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	tooLarge := &TooLargeError{URL: redactString(u), What: "the answer to a batch of receipts", Limit: receiptsAnswerLimit}
	if res.ContentLength > receiptsAnswerLimit {
		return nil, tooLarge
	}
	var ans ReceiptsAnswer
	if err := json.NewDecoder(&limitedBody{r: res.Body, left: receiptsAnswerLimit, err: tooLarge}).Decode(&ans); err != nil {
		if errors.Is(err, ErrTooLarge) {
			return nil, err
		}
		// The server may have kept the receipts or not; sending them
		// again is harmless, which the caller may do.
		return nil, fmt.Errorf("cannot read the answer of %s: %w", redactString(u), err)
	}
	return &ans, nil
}
