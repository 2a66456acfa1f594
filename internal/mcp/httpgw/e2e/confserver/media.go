package main

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"math"
)

// redPixelPNG is a 1x1 red PNG: the image of the image tool, the mixed
// content tool, the image prompt and the binary resource.
var redPixelPNG = func() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 1, 1))
	img.Set(0, 0, color.RGBA{R: 255, A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err)
	}
	return b.Bytes()
}()

// toneWAV is a tenth of a second of a 440 Hz tone: 8 kHz, 8-bit mono PCM
// in a RIFF/WAVE file.
var toneWAV = func() []byte {
	const rate, n = 8000, 800
	samples := make([]byte, n)
	for i := range samples {
		samples[i] = byte(128 + 100*math.Sin(2*math.Pi*440*float64(i)/rate))
	}
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(36 + n))
	b.WriteString("WAVEfmt ")
	le(uint32(16))   // fmt chunk size
	le(uint16(1))    // PCM
	le(uint16(1))    // mono
	le(uint32(rate)) // sample rate
	le(uint32(rate)) // byte rate: rate * channels * bytes per sample
	le(uint16(1))    // block align
	le(uint16(8))    // bits per sample
	b.WriteString("data")
	le(uint32(n))
	b.Write(samples)
	return b.Bytes()
}()
