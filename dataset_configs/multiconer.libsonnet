// Shared pieces of the MultiCoNER 2022 configs. Paths are relative to the data root
// (--data_dir or $MACHAMP_DATA_DIR), laid out as in ../shared/data.
{
  folders: {
    bn: 'BN-Bangla', de: 'DE-German', en: 'EN-English', es: 'ES-Spanish', fa: 'FA-Farsi',
    hi: 'HI-Hindi', ko: 'KO-Korean', nl: 'NL-Dutch', ru: 'RU-Russian', tr: 'TR-Turkish',
    zh: 'ZH-Chinese',
  },
  languages: std.objectFields(self.folders),
  // The official train file of a language. Not every one exists in the shared data: see
  // availableTrain below.
  officialTrain(lang):: 'multiconer2022/%s/%s_train.conll' % [self.folders[lang], lang],
  dev(lang):: 'multiconer2022/%s/%s_dev.conll' % [self.folders[lang], lang],
  // What exists here: full train sets for de en es ko nl tr; ru rebuilt from a public re-split
  // (same sentences, other order); only ~15% of bn fa hi zh (the full sets are not available).
  availableTrain(lang)::
    if lang == 'ru' then 'multiconer2022/RU-Russian/ru_train.reconstructed.conll'
    else if std.member(['bn', 'fa', 'hi', 'zh'], lang)
    then 'multiconer2022/partial_train_subsets/%s_train_subset.conll' % lang
    else self.officialTrain(lang),
  // Context retrieved by BM25 from every available train set (issue 18, docs/context.md): each
  // sentence reads its k most similar train sentences; a sentence never retrieves itself.
  retrievedTrainContext(k):: {
    source: 'retrieval',
    method: 'bm25',
    k: k,
    corpus: [$.availableTrain(lang) for lang in $.languages],
  },
  // `token _ _ TAG` lines (tokens may end in `_`): the label is the last field.
  ner: { ner: { task_type: 'seq_bio', column_idx: -1 } },
}
