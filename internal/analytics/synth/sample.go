package synth

import "time"

// SampleCall is a 32 s stereo call for tests and the demo: the agent on
// the left greets ("thank you for calling"), the customer on the right
// asks to "cancel my subscription"; after 5 s of silence the customer
// talks over the agent to "speak to a manager".
func SampleCall(rate int) Spec {
	return Spec{SampleRate: rate, Stereo: true, Length: 32 * time.Second, Lines: []Line{
		{Channel: 0, At: 1 * time.Second, Text: "{thank you for calling} the service desk, how may I help", Voice: "slt"},
		{Channel: 1, At: 5500 * time.Millisecond, Text: "hello, I would like to {cancel my subscription} please", Voice: "awb"},
		{Channel: 0, At: 10 * time.Second, Text: "I am sorry to hear that, let me look at your account", Voice: "slt"},
		// 5 s of silence, then the customer talks over the agent.
		{Channel: 0, At: 18500 * time.Millisecond, Text: "thank you for waiting, I can offer you a better price", Voice: "slt"},
		{Channel: 1, At: 20 * time.Second, Text: "no, I want to {speak to a manager} now", Voice: "awb"},
		{Channel: 0, At: 25 * time.Second, Text: "of course, one moment while I transfer you", Voice: "slt"},
	}}
}
