"""One line of description per configuration key: the text of docs/configuration.md's key
tables (``reference.py`` writes them). Kept apart so the generator stays short and a new key's
description has one obvious home; the tests fail when a key has none."""

# One line per key of a dataset config (config_datasets.py: DATASET_KEYS).
DATASET_DESCRIPTIONS = {
    "dataset_embed_idx": "MaChAmp's: add an embedding of the dataset to the encoder's input "
    "(-1: the dataset's name); null: none.",
    "train_data_path": "Training file, or a list of files read as their union. Relative paths "
    "resolve against `--data_dir`, else `$MACHAMP_DATA_DIR`, else the working directory.",
    "dev_data_path": "Development file(s), predicted after every epoch for model selection; "
    "without one, the last epoch is kept. MaChAmp's `validation_data_path` is read as this key.",
    "word_idx": "Column of the word (counted from 0). For CoNLL-U the default 0 means FORM (1).",
    "tasks": "The dataset's tasks: `{task name: task config}` (see Task keys). Datasets that "
    "share a task name share its decoder.",
    "reader": "A registered reader (see Readers). Unset: `conllu` for `.conllu` files, "
    "`sentence_tsv` when every task is sentence-level, `conllu` for a file whose content is "
    "CoNLL-U (ten tab-separated columns, words numbered from 1), else `column`.",
    "separator": '`"whitespace"` (any run of spaces or tabs) or `"tab"` (fields may hold spaces).',
    "encoding": "Text encoding of the files, e.g. `latin-1`; a UTF-8 byte-order mark is dropped.",
    "comment_regex": "Lines matching it before a sentence are comments, kept in the output. "
    "Unset: MultiCoNER, CoNLL-U and GermEval comment lines.",
    "max_sents": "Train on the first N sentences of each training file only (-1: all).",
    "max_words": "Train on the first sentences of each training file that hold at most N words "
    "together (-1: all); after `max_sents`. Word-level tasks only (as in MaChAmp).",
    "skip_first_line": "The first line of each file is a header row, not data (MaChAmp's key).",
    "max_dev_sents": "Score the first N sentences of each dev file only (-1: all).",
    "plugins": "Python modules to import before the dataset is read, so that they can register "
    "components (readers, decoders, metrics).",
    "context": "Text the encoder reads after each sentence (its pair template's second text) "
    'but does not label: `{"source": "neighbours", "before": 1, "after": 1}`, '
    '`{"source": "file", "path": ...}` (id, tab, text) or `{"source": '
    '"retrieval", "corpus": ..., "k": 3, "method": "bm25"}`; see docs/context.md.',
    "sent_idxs": "Text columns of the `sentence_tsv` reader, each split on whitespace into "
    "words. Two or more are encoded as a sentence pair with the tokenizer's pair template (and "
    "token types 0, 1, 0, ... where the model has them), as MaChAmp does. Unset: `[0]`.",
}

# One line per key of a task config that the library reads (config_datasets.py: TASK_KEYS).
TASK_DESCRIPTIONS = {
    "task_type": "A registered decoder (see Decoders), e.g. `seq`, `seq_bio`, `classification`.",
    "column_idx": "Column of the label; negative counts from the end of the line (-1: last).",
    "column_idxs": "MaChAmp's: the label's columns, for a task type that reads one label from "
    "several columns (`probdistr`: one probability per column, e.g. `[5, 6]`), instead of "
    "`column_idx`; any other task type refuses it.",
    "metric": "A registered metric (see Metrics) whose `score` counts for model selection. "
    "Unset: the decoder's default metric. An unknown name fails when the config is read.",
    "loss_weight": "Factor of this task's loss in the summed loss (default 1.0); a finite number "
    "of at least 0.",
    "layers_to_use": "MaChAmp's: encoder layers this task reads, mixed by learned weights "
    "(a scalar mix); negative counts from the top. Default [-1], the last layer.",
    "dec_dataset_embed_idx": "MaChAmp's: give this task's decoder an embedding of the dataset "
    "(-1: the dataset's name), `default_dec_dataset_embeds_dim` wide.",
    "additional_metrics": "MaChAmp's: more registered metrics to report for this task (in "
    "metrics.json and `evaluate`); only `metric` counts for model selection.",
    "topn": "MaChAmp's: `predict` writes the n most probable labels of this task as "
    "`label=probability` pairs joined by `|` (seq_bio: the n best sequences); `predict --topn` "
    "overrides it. Default 1: the label alone.",
    "allow_negative_loss_weight": "Set to `true` to allow a negative `loss_weight` (gradient "
    "reversal); without it a negative weight is refused as a likely typo.",
}

# One line per dotted key of the parameter config (default_params.json); the tests fail when
# a key has none, so a new key gets its description here.
PARAM_DESCRIPTIONS = {
    "transformer_model": "The encoder: a Hugging Face hub name (must be cached when offline), a "
    "local folder written by `save_pretrained`, or `python-package:PKG/dir` for a model folder "
    "inside an installed Python package.",
    "reset_transformer_model": "MaChAmp's: the encoder's architecture with random weights "
    "instead of the pretrained ones.",
    "default_dec_dataset_embeds_dim": "MaChAmp's: width of the dataset embedding a task's "
    "decoder gets with `dec_dataset_embed_idx`.",
    "random_seed": "Seed of Python, NumPy and torch; `train --seed` overrides it.",
    "plugins": "Python modules to import before the model is built, so that they can register "
    "components.",
    "encoder.type": "A registered encoder (see Encoders).",
    "encoder.max_input_length": "Subwords per encoder window, special tokens included (capped by "
    "the model's position limit). Longer sentences are split into overlapping windows.",
    "encoder.pooling": "How a word's subword vectors become one vector: `first`, `last` or `mean`.",
    "encoder.dropout": "Dropout on the word vectors the encoder passes to the decoders.",
    "encoder.window_overlap": "Fraction of a window shared with the next one when a sentence is "
    "longer than `max_input_length`.",
    "encoder.freeze_embeddings": "Do not train the input (subword) embedding matrix, most of a "
    "multilingual encoder's weights: saves its gradient and optimizer state. Position "
    "embeddings and all transformer layers still train. On by default: on multilingual-e5-small "
    "it trained 1.3x faster in 1.2 GB less memory with the same dev F1 (docs/performance.md); "
    "the paper's configs turn it off, as the paper trained every weight.",
    "encoder.freeze_layers": "How many of the lowest transformer layers not to train, the "
    "embeddings with them (0, the default: none; at most the model's layer count); null: a "
    "sixth of the layers, rounded down (2 of 12, 4 of 24, none below 6). The backward pass "
    "then stops at the first trained layer: 2 of multilingual-e5-small's 12 made a step 1.17x "
    "cheaper at a four-epoch F1 0.2 points lower, but 1 of all-MiniLM-L6-v2's 6 cost the demo "
    "3 points per task (docs/performance.md).",
    "encoder.gradient_checkpointing": "Recompute each layer's activations in the backward "
    "pass instead of storing them: much less GPU memory for about a third more compute.",
    "encoder.update_weights_encoder": "MaChAmp's: train the encoder; false freezes all of it "
    "(only the decoders learn).",
    "decoders.default_decoder": "MaChAmp's task defaults: keys given to every task (`metric`, "
    "`loss_weight`, `layers_to_use`, ...); a section named after a task type "
    "(`decoders.seq_bio`) gives defaults to the tasks of that type. A task's own keys win.",
    "decoder.dropout": "Dropout inside every decoder that has a `dropout` argument, unless the "
    "task sets its own `dropout`.",
    "batching.batch_size": "Most sentences in a training batch.",
    "batching.max_tokens": "Most padded subword positions (sentences x longest) in a training "
    "batch; a longer sentence gets a batch of its own, whose windows go through the encoder at "
    "most this many positions at a time.",
    "batching.shuffle": "MaChAmp's: draw the training data in a new random order every epoch.",
    "batching.sort_by_size": "MaChAmp's: batch sentences of similar length together (less "
    "padding).",
    "batching.diverse": "MaChAmp's: batches mix sentences of every dataset instead of holding "
    "one dataset each.",
    "batching.sampling_smoothing": "MaChAmp's dataset smoothing: each dataset's share of an "
    "epoch's batches is proportional to size**alpha; 1.0 uses every batch of every dataset once.",
    "training.num_epochs": "Training epochs; the epoch with the best summed dev score is kept.",
    "training.keep_top_n": "MaChAmp's: also keep the archives of the n best epochs in "
    "`RUN/models/epoch_<N>` (1: only `RUN/model`, the best).",
    "training.optimizer.type": 'The optimizer; only `"adamw"` is available.',
    "training.optimizer.lr": "Learning rate of the (pretrained) encoder.",
    "training.optimizer.decoder_lr": "Learning rate of the decoders (new layers); null or 0: `lr`.",
    "training.optimizer.weight_decay": "AdamW weight decay (not applied to biases and layer "
    "norms).",
    "training.optimizer.betas": "AdamW betas.",
    "training.optimizer.eps": "AdamW epsilon.",
    "training.optimizer.decay_bias_and_norm": "Apply weight decay to biases and layer norms too "
    "(MaChAmp does; off by default).",
    "training.optimizer.correct_bias": "Adam's bias correction of the moment estimates; false "
    "is MaChAmp v0.4.0's setting (the AdamW of older transformers releases without it).",
    "training.learning_rate_scheduler.type": "`linear` (warmup, then linear decay to 0), "
    "`slanted_triangular` or `constant`.",
    "training.learning_rate_scheduler.warmup_fraction": "`linear`: fraction of all steps spent "
    "warming up.",
    "training.learning_rate_scheduler.cut_frac": "`slanted_triangular`: fraction of all steps "
    "spent rising.",
    "training.learning_rate_scheduler.ratio": "`slanted_triangular`: peak rate / lowest rate.",
    "training.learning_rate_scheduler.decay_factor": "`slanted_triangular` with "
    "`discriminative_fine_tuning`: the encoder's rate is the decoders' times this (MaChAmp 0.38).",
    "training.learning_rate_scheduler.discriminative_fine_tuning": "`slanted_triangular`: give "
    "the encoder `decay_factor` times the rate of the decoders, as MaChAmp does.",
    "training.learning_rate_scheduler.gradual_unfreezing": "`slanted_triangular`: the first epoch "
    "trains only the decoders (with its own rise and fall), the encoder joins from the second, "
    "as MaChAmp does.",
    "training.grad_clip": "Clip the gradient norm to this value; 0 or null: no clipping.",
    "training.train_metrics": "Also score the training batches (decoding each one, Viterbi for a "
    "CRF); off by default because it costs time and trains nothing.",
    "training.bit_dropout": "On a CPU, draw dropout masks 16 bits at a time from 64-bit random "
    "words instead of one number per element: the same rate (to 1/131,072) and scaling, seeded "
    "by `random_seed`, and a 5% faster training step with multilingual-e5-small on 2 cores "
    "(docs/performance.md). Off by default: its four-epoch F1 alone is not measured yet. Not "
    "used on a GPU, whose dropout is already fused.",
    "training.accumulation_steps": "Batches per optimizer step (per process); their gradients "
    "are combined, weighted by sentences, as if they were one big batch.",
    "training.memory_budget_gb": "Memory budget in GB (peak GPU memory reserved, or peak RSS on "
    "CPU): warn before training when weights, gradients and AdamW state exceed it, and after the "
    "first optimizer step when the measured peak passes 90% of it; null: no check. "
    "`train --memory_budget_gb` sets it.",
    "training.precision": "Forward-pass precision: `fp32`, `bf16` or `fp16` (mixed precision; "
    "losses and the CRF stay in fp32), or `auto`: bf16 where the device computes it itself (a "
    "GPU with bf16, a CPU with AVX512-BF16 or AMX), fp32 elsewhere. metrics.json's `precision` "
    "says which ran.",
    "training.calibrate": "After training, fit each task's temperature on the dev data (the "
    "NLL-minimising T by which scores are divided before they become probabilities; labels do "
    "not change) and store it in `RUN/model/calibration.json`; `predict --probabilities` uses "
    "it. false: no calibration (T = 1); `machamp-lite calibrate MODEL` fits it later.",
    "prediction.batch_size": "Most sentences in a prediction batch (dev scoring and `predict`).",
    "prediction.max_tokens": "Most padded subword positions in a prediction batch, and in one "
    "encoder call: a longer sentence's windows are encoded in chunks of at most this size.",
    "prediction.chunk_sentences": "Sentences that `predict` reads, predicts and writes at a time, "
    "so a file of any size is labelled in bounded memory.",
}
