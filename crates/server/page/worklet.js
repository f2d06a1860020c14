// rech serve's page: the microphone's samples as 16-bit PCM in messages of about 100 ms, at
// the audio context's own rate (the server is told it and resamples).
class Pcm16 extends AudioWorkletProcessor {
  constructor() {
    super();
    this.size = Math.round(sampleRate / 10);
    this.buffer = new Int16Array(this.size);
    this.filled = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) {
      for (let i = 0; i < channel.length; i++) {
        const s = Math.max(-1, Math.min(1, channel[i]));
        this.buffer[this.filled++] = s < 0 ? s * 0x8000 : s * 0x7fff;
        if (this.filled === this.size) {
          // Transferred, not copied: the old buffer is detached, so the size is kept apart.
          this.port.postMessage(this.buffer.buffer, [this.buffer.buffer]);
          this.buffer = new Int16Array(this.size);
          this.filled = 0;
        }
      }
    }
    return true;
  }
}

registerProcessor("pcm16", Pcm16);
