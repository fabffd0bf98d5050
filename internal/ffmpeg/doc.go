// Package ffmpeg is the adapter to the ffmpeg programs (ffmpeg, ffprobe, ffplay) and to the X
// tools around them (Xvfb, xrandr, xdotool): monitor discovery (xrandr on Linux, user32 on
// Windows, avfoundation's device list and system_profiler on macOS) and layout for screen
// recording, capture command lines for Linux (x11grab), Windows (gdigrab) and macOS
// (avfoundation), running a capture that writes fragmented MP4 to a pipe, muxing a screen video
// with the call's MP3 audio, salvaging the complete part of a truncated MP4, and small probes for
// tests.
//
// Media only ever flows through pipes (stdin, stdout, extra file descriptors): plaintext of a
// recording never reaches a temporary file. Nothing here prints; ffmpeg's own stderr is kept as a
// bounded tail and only shows up inside returned errors.
package ffmpeg
