"""Writing video files: H.264 through PyAV (FFmpeg), so that an annotated video plays in
browsers, on phones and in every player. OpenCV's wheels can only write MPEG-4 Part 2 ("mp4v"),
which browsers refuse ("no supported streams")."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import FerkitError

# The first of these the installed FFmpeg has: x264 (PyAV's wheels), Cisco's OpenH264, and
# MPEG-4 Part 2 as a last resort (plays in desktop players, not in browsers).
ENCODERS = ("libx264", "libopenh264", "mpeg4")
X264_OPTIONS = {"preset": "veryfast", "crf": "23"}  # fast enough to keep up with detection


class VideoWriter:
    """RGB frames to a video file at `fps`; the size is the first frame's. The file is created
    at once (a path that cannot be written fails here) and finished by close(), also when the
    loop that writes is interrupted: what was written stays playable.

    audio_from: a video file whose sound is copied alongside, as it is (no re-encoding),
    interleaved with the frames and cut where they end; skipped where it has none or its
    codec does not fit the container."""

    def __init__(self, path: str | Path, fps: float, audio_from: str | Path | None = None):
        import av

        self.path = Path(path)
        self.rate = Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(25)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "ab"):  # FFmpeg would only try at the first frame
                pass
            self.container = av.open(str(self.path), "w")
        except (OSError, ValueError, av.FFmpegError) as e:  # ValueError: an unknown suffix
            raise FerkitError(f"cannot write a video to {self.path}: "
                              f"{getattr(e, 'strerror', None) or e}") from e
        self.stream = None
        self.frames = 0
        self.audio_from, self.audio, self.held = audio_from, None, None

    def write(self, rgb: np.ndarray) -> None:
        import av

        if self.stream is None:  # every stream before the first packet: the header has them
            self.stream = self._add_stream(*rgb.shape[:2])
            self.audio = self._audio_streams()
        pad_h, pad_w = self.stream.height - rgb.shape[0], self.stream.width - rgb.shape[1]
        if pad_h or pad_w:  # yuv420p wants even sides: repeat the last row or column
            rgb = np.pad(rgb, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        self.container.mux(self.stream.encode(frame))
        self.frames += 1
        self._mux_audio(until=self.frames / self.rate)

    def close(self) -> None:
        if self.stream is not None:
            self.container.mux(self.stream.encode())  # flush the encoder's delayed frames
        if self.audio is not None:
            self.audio[0].close()
        self.container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _audio_streams(self):
        """(source container, its packets, the output's audio stream), or None."""
        import av

        if self.audio_from is None:
            return None
        try:
            source = av.open(str(self.audio_from))
        except (OSError, ValueError, av.FFmpegError):
            return None
        sound = source.streams.audio[0] if source.streams.audio else None
        if sound is None or sound.codec_context.name not in self.container.supported_codecs:
            source.close()
            return None
        packets = (p for p in source.demux(sound) if p.dts is not None and p.pts is not None)
        return source, packets, self.container.add_stream_from_template(sound)

    def _mux_audio(self, until: Fraction) -> None:
        """The sound's packets that start before `until` seconds of video."""
        if self.audio is None:
            return
        _, packets, out = self.audio
        while True:
            if self.held is None:
                self.held = next(packets, None)
            if self.held is None or self.held.pts * self.held.time_base >= until:
                return
            self.held.stream = out
            self.container.mux(self.held)
            self.held = None

    def _add_stream(self, height: int, width: int):
        import av

        for name in ENCODERS:
            try:
                codec = av.Codec(name, "w")
            except ValueError:  # UnknownCodecError: not in this FFmpeg
                continue
            options = X264_OPTIONS if name == "libx264" else {}
            stream = self.container.add_stream(codec.name, rate=self.rate, options=options)
            stream.width, stream.height = width + width % 2, height + height % 2
            stream.pix_fmt = "yuv420p"
            return stream
        raise FerkitError(f"this FFmpeg (PyAV {av.__version__}) has no video encoder ferkit "
                          f"can use ({', '.join(ENCODERS)})")
