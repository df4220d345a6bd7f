// WikiANN / PAN-X with the Rahimi et al. (2019) splits: `token<TAB>tag`, IOB2 over PER LOC ORG.
// Swedish (sv), used in the paper, is not available in ../shared/data.
{
  languages: ['ar', 'en', 'eu', 'fi', 'he', 'hi', 'it', 'ja', 'ko', 'ru', 'tr', 'zh'],
  dataset(lang):: {
    train_data_path: 'wikiann/%s/train.tsv' % lang,
    dev_data_path: 'wikiann/%s/dev.tsv' % lang,
    word_idx: 0,
    separator: 'tab',
    // ja and zh have span-initial I- tags: read as span starts (as conlleval does).
    tasks: { ner: { task_type: 'seq_bio', column_idx: 1 } },
  },
}
