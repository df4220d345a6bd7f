// MaChAmp v0.4's optimisation recipe as far as machamp-lite has it: one learning rate for the
// encoder and the decoders, AdamW betas (0.9, 0.99), a slanted triangular schedule (cut 0.3,
// ratio 32). Gradual unfreezing and discriminative fine-tuning are not implemented. Mix it into
// a parameter config to compare with the default recipe, e.g. xlmr-large-machamp.json.
{
  training+: {
    optimizer+: { decoder_lr: null, betas: [0.9, 0.99] },
    learning_rate_scheduler+: { type: 'slanted_triangular', cut_frac: 0.3, ratio: 32 },
  },
}
