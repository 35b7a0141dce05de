import COpenJPEG

enum OpenJPEGSupport {
    /// OpenJPEG prints to stderr by default; failures are reported through return codes instead.
    static func silence(_ codec: UnsafeMutablePointer<opj_codec_t?>) {
        let quiet: opj_msg_callback = { _, _ in }
        opj_set_info_handler(codec, quiet, nil)
        opj_set_warning_handler(codec, quiet, nil)
        opj_set_error_handler(codec, quiet, nil)
    }
}
