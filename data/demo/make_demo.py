"""Generate the small synthetic NER sample that ships with machamp-lite.

The README's quickstart and the test suite need a tiny data set that lives inside the
repository, so they work without downloading anything. This script writes one, composed
from sentence templates and small gazetteers written by hand for this project (the people,
companies, bands, products and titles are invented; no sentence is taken from any data set):

* ``multiconer_demo_{train,dev}.conll``: multilingual complex NER (English, German, Spanish,
  Dutch) in the MultiCoNER 2022 format, IOB2 over PER, LOC, CORP, GRP, PROD, CW;
* ``aux_ner_{train,dev}.tsv``: an auxiliary NER set (Danish, German, English) in the DaN+
  nested format ``token<TAB>outer<TAB>inner``, IOB2 over PER, LOC, ORG, MISC;
* ``README.md``: what the files are, their format and their counts.

It is a sample for smoke tests and the quickstart, not a benchmark. The output is
deterministic (fixed seed, standard library only), so running::

    python data/demo/make_demo.py            # rewrite the files next to this script
    python data/demo/make_demo.py --check    # validate them and confirm they are up to date

reproduces the committed files byte for byte.
"""

from __future__ import annotations

import argparse
import math
import random
import re
import sys
import uuid
from collections import Counter
from pathlib import Path

SEED = 20220711
HERE = Path(__file__).resolve().parent

MC_TRAIN, MC_DEV = "multiconer_demo_train.conll", "multiconer_demo_dev.conll"
AUX_TRAIN, AUX_DEV = "aux_ner_train.tsv", "aux_ner_dev.tsv"
MC_SIZES = {"train": 240, "dev": 80}
AUX_SIZES = {"train": 150, "dev": 50}
MC_LANGS = ("en", "de", "es", "nl")
AUX_LANGS = ("da", "de", "en")
MC_LABELS = ("PER", "LOC", "CORP", "GRP", "PROD", "CW")
AUX_LABELS = ("PER", "LOC", "ORG", "MISC")
LANG_NAMES = {"en": "English", "de": "German", "es": "Spanish", "nl": "Dutch", "da": "Danish"}

# Template slots: upper-case slots are entities (slot name -> entity type), lower-case slots
# are plain words tagged O. A trailing digit ({PER2}) asks for a second, different filler.
MC_SLOTS = {
    "PER": "PER",
    "LOC": "LOC",
    "CORP": "CORP",
    "PROD": "PROD",
    "CW": "CW",
    "TEAM": "GRP",
    "BAND": "GRP",
    "PARTY": "GRP",
}
AUX_SLOTS = {"PER": "PER", "LOC": "LOC", "ORG": "ORG", "EVENT": "MISC", "NAT": "MISC"}
SLOT_RE = re.compile(r"^\{([A-Za-z]+)(\d?)\}$")

# The one random generator; build() reseeds it, so every run makes the same files.
_RNG = random.Random(SEED)


def _items(text: str) -> tuple[str, ...]:
    """Split a ``;``-separated gazetteer string into stripped, non-empty entries."""
    return tuple(item.strip() for item in text.split(";") if item.strip())


# --------------------------------------------------------------------------------------
# MultiCoNER-style sample: templates (already tokenised, one space between tokens)
# --------------------------------------------------------------------------------------

MC_TEMPLATES: dict[str, tuple[str, ...]] = {
    "en": (
        "the film {CW} was directed by {PER} .",
        "{PER} played for {TEAM} in {LOC} .",
        "{CORP} unveiled the {PROD} on {day} .",
        "{PER} was born in {LOC} in {byear} .",
        "the novel {CW} , written by {PER} , sold {num} million copies .",
        "the band {BAND} released the album {CW} in {year} .",
        "in {LOC} {PER} opened a new studio .",
        "the {PROD} is made by {CORP} in {LOC} .",
        "after the match , {TEAM} thanked their supporters .",
        "{PER} joined {CORP} as chief executive in {year} .",
        "the song {CW} reached number {num} in the charts .",
        "{PER} is ranked # {num} in the world .",
        "it was cold and the streets were empty on {day} .",
        "we waited {num} minutes for the bus .",
        "the report was saved as draft_ on {day} .",
        "{TEAM} beat {TEAM2} 3-1 at home .",
        "{PER} and {PER2} star in {CW} .",
        "the {PROD} costs 499.99 dollars .",
        "{CORP} moved its headquarters from {LOC} to {LOC2} .",
        "{PARTY} won {num} seats in {LOC} .",
        "{TEAM} signed {PER} from {TEAM2} .",
        "tickets for the {BAND} concert in {LOC} sold out in {num} hours .",
        "last night we finally watched {CW} .",
        "my favourite book is still {CW}",
        "{PER} moved to {LOC}",
        "reviews of the {PROD} were mixed .",
        "the meeting on {day} was postponed .",
    ),
    "de": (
        "der film {CW} wurde von {PER} gedreht .",
        "{PER} spielte für {TEAM} in {LOC} .",
        "{CORP} stellte am {day} das neue produkt {PROD} vor .",
        "{PER} wurde {byear} in {LOC} geboren .",
        "der roman {CW} von {PER} erschien im jahr {year} .",
        "die band {BAND} veröffentlichte {year} das album {CW} .",
        "in {LOC} eröffnete {PER} ein neues atelier .",
        "{PROD} wird von {CORP} in {LOC} hergestellt .",
        "nach dem spiel bedankte sich {TEAM} bei den fans .",
        "{PER} leitet seit {year} die firma {CORP} .",
        "das lied {CW} erreichte platz {num} der charts .",
        "am {day} regnete es den ganzen tag .",
        "wir haben {num} minuten auf den zug gewartet .",
        "{TEAM} besiegte {TEAM2} mit 2:0 .",
        "{PER} und {PER2} spielen die hauptrollen in {CW} .",
        "{PROD} kostet im handel 299,99 euro .",
        "{CORP} verlegt den firmensitz von {LOC} nach {LOC2} .",
        "bei der wahl in {LOC} gewann {PARTY} {num} sitze .",
        "die konzertkarten für {BAND} in {LOC} waren nach {num} stunden ausverkauft .",
        "gestern abend haben wir endlich {CW} gesehen .",
        "mein lieblingsbuch ist immer noch {CW}",
        "{PER} zog nach {LOC}",
        "die kritiken zu {PROD} fielen gemischt aus .",
        "die sitzung am {day} wurde verschoben .",
        "{TEAM} verpflichtet {PER} von {TEAM2} .",
        "{PARTY} stellt {PER} als kandidatin für {LOC} auf .",
    ),
    "es": (
        "la película {CW} fue dirigida por {PER} .",
        "{PER} jugó en {TEAM} durante {num} temporadas .",
        "{CORP} presentó su nuevo producto , {PROD} , el {day} .",
        "{PER} nació en {LOC} en {byear} .",
        "la novela {CW} , de {PER} , vendió {num} millones de ejemplares .",
        "el grupo {BAND} publicó el disco {CW} en {year} .",
        "en {LOC} {PER} inauguró una nueva galería .",
        "{CORP} fabrica {PROD} en su planta de {LOC} .",
        "tras el partido , {TEAM} agradeció el apoyo de su afición .",
        "{PER} dirige {CORP} desde {year} .",
        "la canción {CW} llegó al número {num} de las listas .",
        "el {day} hubo mucho tráfico en el centro .",
        "esperamos {num} minutos al autobús .",
        "guardé el documento como informe_ el {day} .",
        "{TEAM} ganó 2-0 a {TEAM2} .",
        "{PER} y {PER2} protagonizan {CW} .",
        "pagué 149,50 euros por {PROD} .",
        "{CORP} trasladó su sede de {LOC} a {LOC2} .",
        "{PARTY} obtuvo {num} escaños en {LOC} .",
        "las entradas para el concierto de {BAND} en {LOC} se agotaron en {num} horas .",
        "anoche por fin vimos {CW} .",
        "mi libro favorito sigue siendo {CW}",
        "{PER} se mudó a {LOC}",
        "las críticas de {PROD} fueron dispares .",
        "la reunión del {day} se aplazó .",
        "{TEAM} fichó a {PER} procedente de {TEAM2} .",
    ),
    "nl": (
        "de film {CW} werd geregisseerd door {PER} .",
        "{PER} speelde voor {TEAM} in {LOC} .",
        "{CORP} presenteerde op {day} het nieuwe product {PROD} .",
        "{PER} werd in {byear} geboren in {LOC} .",
        "de roman {CW} van {PER} verscheen in {year} .",
        "de band {BAND} bracht in {year} het album {CW} uit .",
        "in {LOC} opende {PER} een nieuw atelier .",
        "{PROD} wordt door {CORP} gemaakt in {LOC} .",
        "na de wedstrijd bedankte {TEAM} de supporters .",
        "{PER} is sinds {year} directeur van {CORP} .",
        "het nummer {CW} bereikte plaats {num} in de hitlijst .",
        "op {day} was het erg druk op de snelweg .",
        "we wachtten {num} minuten op de trein .",
        "{TEAM} won met 3-2 van {TEAM2} .",
        "{PER} en {PER2} spelen de hoofdrol in {CW} .",
        "{PROD} kost 89,95 euro in de winkel .",
        "{CORP} verhuist het hoofdkantoor van {LOC} naar {LOC2} .",
        "{PARTY} won {num} zetels in {LOC} .",
        "de kaartjes voor het concert van {BAND} in {LOC} waren binnen {num} uur uitverkocht .",
        "gisteravond keken we eindelijk naar {CW} .",
        "mijn favoriete boek is nog steeds {CW}",
        "{PER} verhuisde naar {LOC}",
        "de recensies van {PROD} waren wisselend .",
        "de vergadering van {day} is uitgesteld .",
        "{TEAM} contracteerde {PER} van {TEAM2} .",
        "namens {PARTY} sprak {PER} in {LOC} .",
    ),
}

MC_COMMON_FILLERS = {
    "num": _items("2; 3; 4; 7; 9; 12; 15; 21; 40; 64"),
    "year": _items("1979; 1988; 1994; 2001; 2007; 2012; 2016; 2019; 2021"),
    "byear": _items("1948; 1957; 1963; 1971; 1976; 1984; 1990; 1996"),
}

MC_GAZETTEERS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "day": _items("monday; tuesday; wednesday; thursday; friday; saturday; sunday"),
        "PER": _items(
            "Oliver Brandt; Hannah Mercer; Lucas Fenwick; Amelia Thornton; Jack Redmond;"
            "Nora Castell; Edward Lyle; Ruth Abernathy; Chloe Marchetti; Victor Ashdown;"
            "Mary Anne Colby; Samuel J. Okafor; Priya Raman; Isaac Whitcombe"
        ),
        "LOC": _items(
            "Manchester; Bristol; New Zealand; Ontario; Glasgow; Cape Town; Dublin;"
            "San Francisco; Nova Scotia; Cornwall; Brighton; Edinburgh; Vancouver"
        ),
        "CORP": _items(
            "Halvorsen Logistics; Brightwater Foods; Copperline Systems; Northgate Bank;"
            "Pellam Motors; Bluefin Airways; Ashcombe Pharma; Tidewell Energy;"
            "Quillon Software; Marlow & Finch; Stonebridge Insurance"
        ),
        "PROD": _items(
            "Pellam Roadster GT; Quillon Office 2020; Lumen Tab 10; Copperline C-300;"
            "Brightwater Oat Crunch; Kestrel 4_; Orbis Watch; Halo Mini; Tundra 2.0;"
            "Zephyr E-Bike; Vela 5 Camera"
        ),
        "CW": _items(
            "The Winter Harbour; Songs for a Quiet Town; Echoes of the North;"
            "Midnight at the Depot; A House Without Doors; The Last Lighthouse;"
            "Paper Moon Rising; Under the Copper Sky; Running Home; The Glass Orchard;"
            "Nine Days in April; The Cartographer's Daughter"
        ),
        "TEAM": _items(
            "Riverside Rovers; Ashford United; Kingsbridge Athletic; Harbour City Hawks;"
            "Westbrook Wanderers; Millbrook Town"
        ),
        "BAND": _items(
            "The Paper Lanterns; The Velvet Tides; The Marigold Sisters; Static Orchard;"
            "The Hollow Pines"
        ),
        "PARTY": _items(
            "Northern Unity Party; Green Future Alliance; Reform Party; Land and Labour League"
        ),
    },
    "de": {
        "day": _items("montag; dienstag; mittwoch; donnerstag; freitag; samstag; sonntag"),
        "PER": _items(
            "Lena Hartmann; Jonas Albrecht; Katrin Vogelsang; Felix Brandauer;"
            "Miriam Osterkamp; Tobias Reinhold; Sabine Kühnel; Matthias von Ebersberg;"
            "Anja Wiedemann; Lukas Hofstetter; Ingrid Feldmann; Uwe Kranich; Paula Dietrich"
        ),
        "LOC": _items(
            "Hamburg; München; Leipzig; Konstanz; Niedersachsen; Freiburg im Breisgau; Köln;"
            "Dresden; Heidelberg; Wien; Graz; Zürich; Bad Tölz"
        ),
        "CORP": _items(
            "Brennwerk AG; Lindhorst Maschinenbau; Nordstern Versicherung;"
            "Kaltenbach Brauerei; Elbtal Logistik GmbH; Seidel & Söhne; Fernwerk Solar;"
            "Alpenmilch AG; Rheinblick Medien; Quadra Software GmbH; Taler Bank"
        ),
        "PROD": _items(
            "Brennwerk K3 Kaffeeautomat; Fernwerk Solarmodul 400; Alpenmilch Bergkäse;"
            "Lindhorst L-200; Quadra Office Pro; Taler Card Gold; Ostwind E-Roller;"
            "Nordlicht Tablet 8; Kraxl Wanderschuh; Kaltenbach Dunkel"
        ),
        "CW": _items(
            "Der stille Hafen; Lieder aus dem Nebel; Die Uhr am Markt; Nachtzug nach Rostock;"
            "Sommer ohne Ende; Das gläserne Dorf; Zwischen den Wellen; Die letzte Fähre;"
            "Mein Herz aus Stein; Kinder der Stadt; Der Weg nach Hause; Graue Tage"
        ),
        "TEAM": _items(
            "FC Elbufer; SV Rotweiß Lindenau; TSV Hochfeld 1908; VfR Mühlendorf;"
            "Eisbären Neustadt; SC Talheim 04"
        ),
        "BAND": _items(
            "Die Nachtfalter; Sternkinder; Die Blechmusikanten; Kapelle Sonnenschein; Blaue Stunde"
        ),
        "PARTY": _items(
            "Bürgerliste Süd; Partei für Umwelt und Arbeit; Neue Mitte; Freie Wählergruppe Nord"
        ),
    },
    "es": {
        "day": _items("lunes; martes; miércoles; jueves; viernes; sábado; domingo"),
        "PER": _items(
            "Lucía Herrera Vidal; Mateo Salvatierra; Carmen Ibáñez; Javier Ortuño;"
            "Sofía Montalbán; Diego Carrasco; Elena Robledo; Andrés Villalba; Marta Quiroga;"
            "Pablo de Arriaga; Isabel Cienfuegos; Raúl Benítez; Ana María Duarte"
        ),
        "LOC": _items(
            "Sevilla; Valencia; Buenos Aires; Galicia; Ciudad de México; Bilbao; Andalucía;"
            "Montevideo; Granada; Bogotá; Santiago de Chile; Salamanca; Mallorca"
        ),
        "CORP": _items(
            "Grupo Miramar; Aceites Solano; Banco del Sur Atlántico; Telvia Comunicaciones;"
            "Construcciones Arenal; Naviera Costa Azul; Farmacéutica Alba; Energías Ventura;"
            "Editorial Los Robles; Cervecera del Norte; Lumina Digital"
        ),
        "PROD": _items(
            "Telvia Fibra 600; Solano Virgen Extra; Ventura Panel S4; Lumina Fon 12;"
            "Cervecera Dorada; Alba Gripal Forte; Miramar Café Molido; Kóbalt Tableta 10;"
            "Arenal Cemento Plus; Robles Agenda 2022"
        ),
        "CW": _items(
            "El jardín de las horas; Cien noches en Lima; La casa del farero;"
            "Canción para mi abuela; Los días de lluvia; El último tren; Mar de fondo;"
            "La sombra del olivo; Bajo la luna de agosto; Historias de un puerto;"
            "El silencio del río; Cartas a Marina"
        ),
        "TEAM": _items(
            "Deportivo Alameda; Unión Deportiva Robledal; Racing Costa Brava;"
            "Club Atlético San Telmo; Sporting Miraflores; CD Villanueva"
        ),
        "BAND": _items(
            "Los Girasoles; Las Hermanas Luna; Los Caminantes; Orquesta del Alba; Marea Baja"
        ),
        "PARTY": _items(
            "Partido Verde Progresista; Frente Ciudadano; Unión Regionalista;"
            "Movimiento Nueva Tierra"
        ),
    },
    "nl": {
        "day": _items("maandag; dinsdag; woensdag; donderdag; vrijdag; zaterdag; zondag"),
        "PER": _items(
            "Sanne Verhoeven; Pieter van Dalen; Femke Bosman; Joris ter Haar;"
            "Anouk Meijerink; Bram Wolters; Lotte van der Heijden; Thijs Oosterhout;"
            "Eva Kroonenberg; Ruben Dekkers; Marieke Smeets; Daan IJzerman; Wouter Claes"
        ),
        "LOC": _items(
            "Utrecht; Groningen; Zeeland; Antwerpen; Den Haag; Maastricht; Friesland; Gent;"
            "Rotterdam; Noord-Brabant; Zwolle; Leuven; Texel"
        ),
        "CORP": _items(
            "Dijkstra Bouw; Polderwind Energie; Van Meurs Logistiek; Tulpenland Verzekeringen;"
            "Zeebries Media; Molenaar & Zonen; Kaaslust BV; Stroomlijn Telecom; Grachtenbank;"
            "Vlietland Foods; Heidegroen Tuinen"
        ),
        "PROD": _items(
            "Stroomlijn Modem X2; Kaaslust Belegen; Polderwind Turbine 5; Zeebries Radio Mini;"
            "Dijkstra Dakpan; Molenaar Koffiemolen M1; Vlietland Pindakaas; Tulp E-step;"
            "Gracht Stadsfiets 7; Heidegroen Grasmaaier 3.0"
        ),
        "CW": _items(
            "De stille rivier; Het huis aan de gracht; Liedjes voor de regen;"
            "Een zomer in Zeeland; De laatste veerboot; Wind over het land;"
            "Kinderen van de polder; Het gouden uur; Nacht boven de stad; De brievenbus;"
            "Morgen is ver weg; Het verloren dorp"
        ),
        "TEAM": _items(
            "FC Vlietdorp; VV Zuiderkwartier; SC Polderboys; Sportclub Heidebloem;"
            "Roda Vooruit; HV De Meeuwen"
        ),
        "BAND": _items(
            "De Kleine Vossen; De Nachtwakers; Blauwe Maandag; Harmonie Sint-Joris; Zondagskinderen"
        ),
        "PARTY": _items(
            "Partij voor Dorp en Stad; Lijst Vernieuwing; Samen Vooruit; Groen Dorpsbelang"
        ),
    },
}

# --------------------------------------------------------------------------------------
# Auxiliary DaN+-style sample. In gazetteer entries a ``=TYPE`` suffix marks a token of a
# nested (inner) entity; consecutive tokens with the same suffix form one inner span.
# --------------------------------------------------------------------------------------

AUX_TEMPLATES: dict[str, tuple[str, ...]] = {
    "da": (
        "{PER} arbejder hos {ORG} i {LOC} .",
        "{EVENT} trak tusindvis af gæster til {LOC} .",
        "{ORG} meddelte mandag , at {PER} stopper .",
        "{PER} voksede op i {LOC} , men flyttede senere til {LOC2} .",
        "Flere {NAT} virksomheder har åbnet kontorer i {LOC} .",
        "Ifølge {ORG} steg priserne med {num} procent sidste år .",
        "Det regnede hele weekenden , så kampen blev aflyst .",
        "{PER} blev hædret ved {EVENT} i {year} .",
        "En talsperson for {ORG} ville ikke kommentere sagen .",
        "{LOC} har omkring {pop} tusind indbyggere .",
        "Den nye bro står færdig i {year} .",
        "{PER} og {PER2} mødtes første gang på {ORG} .",
        "Hvornår åbner butikken i morgen ?",
    ),
    "de": (
        "{PER} arbeitet bei {ORG} in {LOC} .",
        "{EVENT} lockte tausende Besucher nach {LOC} .",
        "{ORG} gab am Montag bekannt , dass {PER} aufhört .",
        "{PER} wuchs in {LOC} auf und zog später nach {LOC2} .",
        "Mehrere {NAT} Firmen haben Büros in {LOC} eröffnet .",
        "Laut {ORG} stiegen die Preise im vergangenen Jahr um {num} Prozent .",
        "Es regnete das ganze Wochenende , deshalb fiel das Spiel aus .",
        "{PER} wurde {year} bei {EVENT} ausgezeichnet .",
        "Ein Sprecher von {ORG} wollte sich nicht äußern .",
        "{LOC} hat rund {pop} tausend Einwohner .",
        "Die neue Brücke soll {year} fertig sein .",
        "{PER} und {PER2} lernten sich bei {ORG} kennen .",
        "Wann öffnet der Laden morgen ?",
    ),
    "en": (
        "{PER} works for {ORG} in {LOC} .",
        "{EVENT} drew thousands of visitors to {LOC} .",
        "{ORG} announced on Monday that {PER} will step down .",
        "{PER} grew up in {LOC} and later moved to {LOC2} .",
        "Several {NAT} companies have opened offices in {LOC} .",
        "According to {ORG} , prices rose by {num} per cent last year .",
        "It rained all weekend , so the match was called off .",
        "{PER} was honoured at {EVENT} in {year} .",
        "A spokesperson for {ORG} declined to comment .",
        "{LOC} has about {pop} thousand inhabitants .",
        "The new bridge should be finished in {year} .",
        "{PER} and {PER2} first met at {ORG} .",
        "When does the shop open tomorrow ?",
    ),
}

AUX_COMMON_FILLERS = {
    "pop": _items("14; 27; 36; 52; 61; 95; 118; 142; 270; 340"),
    "year": _items("1998; 2003; 2010; 2014; 2018; 2020; 2023"),
}

AUX_GAZETTEERS: dict[str, dict[str, tuple[str, ...]]] = {
    "da": {
        "num": _items("2; 3; 4,5; 6; 1,8; 11; 2,5"),
        "PER": _items(
            "Mette Kjærgaard; Anders Holmsted; Sofie Brandt Nielsen; Rasmus Winther;"
            "Karen Lykke; Jens Ottesen; Freja Damgaard; Mikkel Sønderby"
        ),
        "LOC": _items(
            "Aarhus; Odense; Aalborg; Jylland; Bornholm; Roskilde; Esbjerg; Nørre Nebel; Vejle"
        ),
        "ORG": _items(
            "Aarhus=LOC Universitet; Vejle=LOC Roklub; Nordhavn Energi; Lykkegaard Bryggeri;"
            "Esbjerg=LOC Havn; Aalborg=LOC Kommune; Hvidsten Tekstil; Folkebevægelsen Fremad"
        ),
        "EVENT": _items(
            "Roskilde=LOC Festival; Bornholm=LOC Rundt; Vejle=LOC Jazzdage; Grøn Uge;"
            "Fyn=LOC Kulturnat"
        ),
        "NAT": _items("danske; svenske; tyske; norske; islandske"),
    },
    "de": {
        "num": _items("2; 3; 4,5; 6; 1,8; 11; 2,5"),
        "PER": _items(
            "Heike Brandstätter; Ralf Gützkow; Nadine Scholl; Bernd Achterfeld; Jana Wölk;"
            "Oliver Krems; Dörte Lamprecht; Yusuf Demirel"
        ),
        "LOC": _items("Bremen; Kiel; Thüringen; Lübeck; Bad Oldesloe; Augsburg; Bonn; Wittenried"),
        "ORG": _items(
            "Universität Bremen=LOC; Stadtwerke Kiel=LOC; Holzbau Lindner GmbH;"
            "Kunsthalle Wittenried=LOC; Verkehrsbund Saar; Achterfeld=PER Stiftung;"
            "Genossenschaftsbank Lübeck=LOC; Ostseewerft"
        ),
        "EVENT": _items(
            "Ostseefest Kiel=LOC; Lübecker Kulturpreis; Harzlauf; Augsburger Lichtertage;"
            "Bonner Sommerkino"
        ),
        "NAT": _items("deutsche; dänische; polnische; französische; österreichische"),
    },
    "en": {
        "num": _items("2; 3; 4.5; 6; 1.8; 11; 2.5"),
        "PER": _items(
            "Helen Carraway; George Baptiste; Aisha Rahman; Tom Whitlock; Evelyn Sharpe;"
            "Colin Deverell; Niamh O'Rourke; Daniel Osei"
        ),
        "LOC": _items(
            "Leeds; Cardiff; Norfolk; Aberdeen; Milton Keynes; Yorkshire; Belfast; Kendal"
        ),
        "ORG": _items(
            "Leeds=LOC University; Cardiff=LOC Council; Halvorsen Logistics;"
            "Norfolk=LOC Wildlife Trust; Bank of Aberdeen=LOC; Brightwater Foods;"
            "Kendal=LOC Rowing Club; Whitlock=PER & Sons"
        ),
        "EVENT": _items(
            "Aberdeen=LOC Jazz Festival; Bath=LOC Half Marathon; Carraway=PER Medal Night;"
            "Northern Lights Fair; Belfast=LOC Book Week"
        ),
        "NAT": _items("British; Danish; German; Irish; Canadian"),
    },
}


# --------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------

Sentence = tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]  # lang, toks, outer, inner


def split_pool(values: tuple[str, ...], rng: random.Random) -> dict[str, tuple[str, ...]]:
    """Shuffle a gazetteer; train gets its first 4/5 and dev its last 1/2.

    The entries in between are shared; the last 1/5 only ever appears in dev, so the dev
    set contains entity names that the model has not seen in training.
    """
    shuffled = list(values)
    rng.shuffle(shuffled)
    n = len(shuffled)
    return {"train": tuple(shuffled[: math.ceil(0.8 * n)]), "dev": tuple(shuffled[n // 2 :])}


def build_pools(
    gazetteers: dict[str, dict[str, tuple[str, ...]]],
    common: dict[str, tuple[str, ...]],
    entity_slots: dict[str, str],
    rng: random.Random,
) -> dict[str, dict[str, dict[str, tuple[str, ...]]]]:
    """Return ``pools[split][lang][slot]``: entity slots are split, plain-word slots shared."""
    pools: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {"train": {}, "dev": {}}
    for lang, slots in gazetteers.items():
        for split in pools:
            pools[split][lang] = dict(common)
        for slot, values in slots.items():
            if slot in entity_slots:
                for split, part in split_pool(values, rng).items():
                    pools[split][lang][slot] = part
            else:
                for split in pools:
                    pools[split][lang][slot] = values
    return pools


def span_tags(n_tokens: int, label: str) -> list[str]:
    return [f"B-{label}"] + [f"I-{label}"] * (n_tokens - 1)


def inner_tags(marks: list[str | None]) -> list[str]:
    """IOB2 tags for the inner level from per-token ``=TYPE`` marks."""
    tags: list[str] = []
    for i, mark in enumerate(marks):
        if mark is None:
            tags.append("O")
        elif i > 0 and marks[i - 1] == mark:
            tags.append(f"I-{mark}")
        else:
            tags.append(f"B-{mark}")
    return tags


def fill_template(
    template: str,
    lang: str,
    pools: dict[str, tuple[str, ...]],
    entity_slots: dict[str, str],
    lowercase: bool,
) -> Sentence:
    """Fill a template's slots with distinct gazetteer entries; return tokens and tags."""
    tokens: list[str] = []
    outer: list[str] = []
    inner: list[str] = []
    used: set[str] = set()
    for piece in template.split(" "):
        match = SLOT_RE.match(piece)
        if match is None:
            tokens.append(piece)
            outer.append("O")
            inner.append("O")
            continue
        slot = match.group(1)
        value = _RNG.choice([v for v in pools[slot] if v not in used])
        used.add(value)
        words: list[str] = []
        marks: list[str | None] = []
        for word in value.split():
            text, _, mark = word.partition("=")
            words.append(text)
            marks.append(mark or None)
        tokens.extend(words)
        if slot in entity_slots:
            outer.extend(span_tags(len(words), entity_slots[slot]))
            inner.extend(inner_tags(marks))
        else:
            outer.extend(["O"] * len(words))
            inner.extend(["O"] * len(words))
    if lowercase:
        tokens = [t.lower() for t in tokens]
    for token in tokens:
        assert token and not any(ch.isspace() for ch in token), token
    return lang, tuple(tokens), tuple(outer), tuple(inner)


def generate(
    templates: dict[str, tuple[str, ...]],
    pools: dict[str, dict[str, dict[str, tuple[str, ...]]]],
    sizes: dict[str, int],
    entity_slots: dict[str, str],
    lowercase: bool,
) -> dict[str, list[Sentence]]:
    """Compose ``sizes[split]`` distinct sentences per split, languages in equal shares.

    Train cycles through each language's templates (every template is used, about equally
    often); dev draws templates at random. No sentence occurs twice in or across splits.
    """
    langs = list(templates)
    seen: set[tuple[str, ...]] = set()
    out: dict[str, list[Sentence]] = {}
    for split, size in sizes.items():
        sentences: list[Sentence] = []
        for k, lang in enumerate(langs):
            quota = size // len(langs) + (1 if k < size % len(langs) else 0)
            order: list[str] = []
            if split == "train":
                while len(order) < quota:
                    batch = list(templates[lang])
                    _RNG.shuffle(batch)
                    order.extend(batch)
            else:
                order = [_RNG.choice(templates[lang]) for _ in range(quota)]
            for template in order[:quota]:
                for attempt in range(200):
                    if attempt and attempt % 20 == 0:
                        template = _RNG.choice(templates[lang])
                    sent = fill_template(
                        template, lang, pools[split][lang], entity_slots, lowercase
                    )
                    if sent[1] not in seen:
                        break
                else:
                    raise RuntimeError(f"could not find a new sentence for {lang}")
                seen.add(sent[1])
                sentences.append(sent)
        _RNG.shuffle(sentences)
        out[split] = sentences
    return out


def render_multiconer(sentences: list[Sentence]) -> str:
    lines: list[str] = []
    for _, tokens, outer, _ in sentences:
        sent_id = uuid.UUID(int=_RNG.getrandbits(128), version=4)
        lines.append(f"# id {sent_id}\tdomain=demo")
        lines.extend(f"{tok} _ _ {tag}" for tok, tag in zip(tokens, outer))
        lines.append("")
    return "\n".join(lines) + "\n"


def render_danplus(sentences: list[Sentence]) -> str:
    lines: list[str] = []
    for _, tokens, outer, inner in sentences:
        lines.extend(f"{t}\t{o}\t{i}" for t, o, i in zip(tokens, outer, inner))
        lines.append("")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# Independent validation of the written files
# --------------------------------------------------------------------------------------

# Tokens the README names as examples; main() makes sure the train file has them.
README_EXAMPLE_TOKENS = ("draft_", "informe_", "3-1", "2:0", "299,99", "499.99")
ID_RE = re.compile(r"^# id ([0-9a-f-]{36})\tdomain=demo$")


def check_iob2(tags: list[str], labels: tuple[str, ...], where: str) -> list[tuple[str, int]]:
    """Raise on an invalid IOB2 sequence; return the spans as (label, length)."""
    spans: list[tuple[str, int]] = []
    prev = "O"
    for tag in tags:
        if tag != "O":
            prefix, _, label = tag.partition("-")
            if prefix not in ("B", "I") or label not in labels:
                raise ValueError(f"{where}: bad tag {tag!r}")
            if prefix == "I":
                if prev == "O" or prev[2:] != label:
                    raise ValueError(f"{where}: {tag} after {prev}")
                spans[-1] = (label, spans[-1][1] + 1)
            else:
                spans.append((label, 1))
        prev = tag
    return spans


def blocks(text: str, where: str) -> list[list[str]]:
    if not text.endswith("\n\n") or text.endswith("\n\n\n") or text.startswith("\n"):
        raise ValueError(f"{where}: file must end with exactly one blank line")
    return [block.split("\n") for block in text[:-2].split("\n\n")]


def read_multiconer(path: Path) -> list[tuple[list[str], list[str]]]:
    sentences = []
    ids = set()
    for n, block in enumerate(blocks(path.read_text(encoding="utf-8"), path.name), 1):
        where = f"{path.name} sentence {n}"
        match = ID_RE.match(block[0])
        if match is None:
            raise ValueError(f"{where}: missing '# id <uuid>\\tdomain=demo' line")
        if uuid.UUID(match.group(1)).version != 4 or match.group(1) in ids:
            raise ValueError(f"{where}: id is not a new uuid4")
        ids.add(match.group(1))
        tokens, tags = [], []
        for line in block[1:]:
            fields = line.split(" ")
            if len(fields) != 4 or fields[1:3] != ["_", "_"] or not fields[0]:
                raise ValueError(f"{where}: bad line {line!r}")
            if fields[0] != fields[0].lower():
                raise ValueError(f"{where}: token not lowercased {line!r}")
            tokens.append(fields[0])
            tags.append(fields[3])
        if not tokens:
            raise ValueError(f"{where}: empty sentence")
        check_iob2(tags, MC_LABELS, where)
        sentences.append((tokens, tags))
    return sentences


def read_danplus(path: Path) -> list[tuple[list[str], list[str], list[str]]]:
    sentences = []
    for n, block in enumerate(blocks(path.read_text(encoding="utf-8"), path.name), 1):
        where = f"{path.name} sentence {n}"
        rows = [line.split("\t") for line in block]
        if any(len(r) != 3 or not r[0] or r[0].startswith("#") for r in rows):
            raise ValueError(f"{where}: expected token<TAB>outer<TAB>inner lines")
        tokens, outer, inner = (list(col) for col in zip(*rows))
        check_iob2(outer, AUX_LABELS, where)
        check_iob2(inner, AUX_LABELS, where)
        if any(i != "O" and o == "O" for o, i in zip(outer, inner)):
            raise ValueError(f"{where}: inner entity outside an outer entity")
        sentences.append((tokens, outer, inner))
    return sentences


def entity_strings(tokens: list[str], tags: list[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for tok, tag in zip(tokens, tags):
        if tag.startswith("B-"):
            out.append((tag[2:], tok))
        elif tag.startswith("I-"):
            out[-1] = (out[-1][0], f"{out[-1][1]} {tok}")
    return out


def stats_from_files(directory: Path) -> dict[str, dict]:
    """Parse and validate every file on disk; return counts for the README."""
    stats: dict[str, dict] = {}
    for name in (MC_TRAIN, MC_DEV):
        sents = read_multiconer(directory / name)
        ents = [e for toks, tags in sents for e in entity_strings(toks, tags)]
        stats[name] = {
            "sentences": len(sents),
            "tokens": sum(len(t) for t, _ in sents),
            "entities": Counter(label for label, _ in ents),
            "names": set(ents),
            "mentions": ents,
            "no_entity": sum(all(t == "O" for t in tags) for _, tags in sents),
            "hash_tokens": sum(toks[1:].count("#") for toks, _ in sents),
            "underscore_tokens": sum(t.endswith("_") for toks, _ in sents for t in toks),
            "bytes": (directory / name).stat().st_size,
        }
    for name in (AUX_TRAIN, AUX_DEV):
        sents = read_danplus(directory / name)
        ents = [e for toks, outer, _ in sents for e in entity_strings(toks, outer)]
        stats[name] = {
            "sentences": len(sents),
            "tokens": sum(len(t) for t, _, _ in sents),
            "entities": Counter(label for label, _ in ents),
            "inner": Counter(
                label for toks, _, inner in sents for label, _ in entity_strings(toks, inner)
            ),
            "names": set(ents),
            "mentions": ents,
            "no_entity": sum(all(t == "O" for t in outer) for _, outer, _ in sents),
            "bytes": (directory / name).stat().st_size,
        }
    for train, dev in ((MC_TRAIN, MC_DEV), (AUX_TRAIN, AUX_DEV)):
        unseen = [e for e in stats[dev]["mentions"] if e not in stats[train]["names"]]
        stats[dev]["unseen_mentions"] = len(unseen)
    return stats


# --------------------------------------------------------------------------------------
# README
# --------------------------------------------------------------------------------------


def count_row(name: str, st: dict, labels: tuple[str, ...]) -> str:
    cells = " | ".join(str(st["entities"][label]) for label in labels)
    total = sum(st["entities"].values())
    return f"| `{name}` | {st['sentences']} | {st['tokens']} | {total} | {cells} |"


def render_readme(stats: dict[str, dict], langs: dict[str, Counter]) -> str:
    mc_head = " | ".join(MC_LABELS)
    aux_head = " | ".join(AUX_LABELS)

    def lang_list(name: str) -> str:
        return ", ".join(f"{LANG_NAMES[k]} {v}" for k, v in langs[name].items())

    mc_dev, aux_dev = stats[MC_DEV], stats[AUX_DEV]
    mc_dev_total = sum(mc_dev["entities"].values())
    aux_dev_total = sum(aux_dev["entities"].values())
    inner_train, inner_dev = stats[AUX_TRAIN]["inner"], aux_dev["inner"]
    return f"""# Demo data (synthetic)

A tiny NER sample that ships with machamp-lite so that the quickstart command in the main
README and the test suite run without downloading anything. **It is synthetic and is not a
benchmark**: every sentence was composed by [`make_demo.py`](make_demo.py) from sentence
templates and small gazetteers written for this project (the people, companies, bands,
products and titles are invented; nothing is taken from MultiCoNER, DaN+ or any other data
set). Scores on it say only that the pipeline works end to end.

Do not edit the data files by hand. To regenerate them (and this README) run, from the
repository root:

```bash
python data/demo/make_demo.py          # rewrites the files below, byte for byte
python data/demo/make_demo.py --check  # validates the files and checks they are up to date
```

The script uses only the Python standard library and a fixed seed ({SEED}).

## Files

| File | Format | Languages (sentences) |
| --- | --- | --- |
| `{MC_TRAIN}` | MultiCoNER 2022 | {lang_list(MC_TRAIN)} |
| `{MC_DEV}` | MultiCoNER 2022 | {lang_list(MC_DEV)} |
| `{AUX_TRAIN}` | DaN+ (nested) | {lang_list(AUX_TRAIN)} |
| `{AUX_DEV}` | DaN+ (nested) | {lang_list(AUX_DEV)} |

### MultiCoNER 2022 format (`*.conll`)

Each sentence starts with a line `# id <uuid4><TAB>domain=demo`, followed by one line per
token, `token _ _ TAG` (fields separated by single spaces), and ends with a blank line (the
file ends with one too). Text is lowercased, as in MultiCoNER. Tags are IOB2 over the six
MultiCoNER types: PER (person), LOC (location), CORP (company), GRP (group: bands, sports
teams, political parties), PROD (product) and CW (creative work: films, songs, books).

As in the real data, some tokens end in `_` (e.g. `draft_`, `informe_`) and a token can be a lone
`#` (a line `# _ _ O` inside a sentence is a token, not a comment), so readers should treat
only a sentence's first line as its id line and take the first and last whitespace-separated
fields of the other lines. The sample also has sentences without entities, entities at the
start and end of sentences, adjacent entities of different types and tokens with digits and
punctuation (`3-1`, `2:0`, `299,99`, `499.99`).

| File | Sentences | Tokens | Entities | {mc_head} |
| --- | --- | --- | --- | {" | ".join("---" for _ in MC_LABELS)} |
{count_row(MC_TRAIN, stats[MC_TRAIN], MC_LABELS)}
{count_row(MC_DEV, mc_dev, MC_LABELS)}

Sentences without entities: {stats[MC_TRAIN]["no_entity"]} (train), {mc_dev["no_entity"]} (dev).
Train and dev draw on partly different gazetteer entries: {mc_dev["unseen_mentions"]} of the
{mc_dev_total} dev entity mentions do not occur as an entity in train.

### DaN+ nested format (`*.tsv`)

One token per line, `token<TAB>outer<TAB>inner`, a blank line after each sentence, no comment
lines, original case. Both columns are IOB2 over PER, LOC, ORG and MISC (the DaN+ `-deriv` and
`-part` suffixes are not used). The outer column holds the entities; the inner column is
mostly `O` and marks entities nested inside them, e.g. `Aarhus B-ORG B-LOC` /
`Universitet I-ORG O`.

| File | Sentences | Tokens | Entities (outer) | {aux_head} |
| --- | --- | --- | --- | {" | ".join("---" for _ in AUX_LABELS)} |
{count_row(AUX_TRAIN, stats[AUX_TRAIN], AUX_LABELS)}
{count_row(AUX_DEV, aux_dev, AUX_LABELS)}

Inner (nested) entities: {sum(inner_train.values())} in train, {sum(inner_dev.values())} in \
dev. Sentences without entities: {stats[AUX_TRAIN]["no_entity"]} (train), \
{aux_dev["no_entity"]} (dev). {aux_dev["unseen_mentions"]} of the {aux_dev_total} dev entity \
mentions do not occur as an entity in train.
"""


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def build() -> tuple[dict[str, str], dict[str, Counter]]:
    """Return the contents of every data file and the language mix of each."""
    _RNG.seed(SEED)
    mc_pools = build_pools(MC_GAZETTEERS, MC_COMMON_FILLERS, MC_SLOTS, _RNG)
    aux_pools = build_pools(AUX_GAZETTEERS, AUX_COMMON_FILLERS, AUX_SLOTS, _RNG)
    mc = generate(MC_TEMPLATES, mc_pools, MC_SIZES, MC_SLOTS, lowercase=True)
    aux = generate(AUX_TEMPLATES, aux_pools, AUX_SIZES, AUX_SLOTS, lowercase=False)
    files = {
        MC_TRAIN: render_multiconer(mc["train"]),
        MC_DEV: render_multiconer(mc["dev"]),
        AUX_TRAIN: render_danplus(aux["train"]),
        AUX_DEV: render_danplus(aux["dev"]),
    }
    langs = {
        MC_TRAIN: Counter(s[0] for s in mc["train"]),
        MC_DEV: Counter(s[0] for s in mc["dev"]),
        AUX_TRAIN: Counter(s[0] for s in aux["train"]),
        AUX_DEV: Counter(s[0] for s in aux["dev"]),
    }
    for name, counter in langs.items():
        order = MC_LANGS if name in (MC_TRAIN, MC_DEV) else AUX_LANGS
        langs[name] = Counter({lang: counter[lang] for lang in order})
    return files, langs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="validate the files on disk and fail if they differ from a fresh generation",
    )
    parser.add_argument("--out", type=Path, default=HERE, help="output directory")
    args = parser.parse_args(argv)

    files, langs = build()
    if args.check:
        stale = [
            name
            for name, text in files.items()
            if not (args.out / name).is_file()
            or (args.out / name).read_text(encoding="utf-8") != text
        ]
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (args.out / name).write_text(text, encoding="utf-8", newline="\n")
        stale = []
    if stale:
        print(f"out of date: {', '.join(stale)}; run python {Path(__file__).name}")
        return 1

    stats = stats_from_files(args.out)
    for name in (MC_TRAIN, MC_DEV):
        st = stats[name]
        if st["hash_tokens"] < 1 and name == MC_TRAIN:
            raise ValueError(f"{name}: no lone '#' token")
        if st["underscore_tokens"] < 2 and name == MC_TRAIN:
            raise ValueError(f"{name}: fewer than two tokens ending in '_'")
    train_tokens = set((args.out / MC_TRAIN).read_text(encoding="utf-8").split())
    missing = [t for t in README_EXAMPLE_TOKENS if t not in train_tokens]
    if missing:
        raise ValueError(f"{MC_TRAIN}: README example tokens missing: {missing}")
    readme = render_readme(stats, langs)
    readme_path = args.out / "README.md"
    if args.check:
        if not readme_path.is_file() or readme_path.read_text(encoding="utf-8") != readme:
            print("out of date: README.md")
            return 1
    else:
        readme_path.write_text(readme, encoding="utf-8", newline="\n")

    for name, st in stats.items():
        ents = ", ".join(f"{k} {v}" for k, v in sorted(st["entities"].items()))
        extra = f"; unseen in train {st['unseen_mentions']}" if "unseen_mentions" in st else ""
        print(
            f"{name}: {st['sentences']} sentences, {st['tokens']} tokens, "
            f"{sum(st['entities'].values())} entities ({ents}){extra}; {st['bytes']} bytes"
        )
    print("all files valid" + (" and up to date" if args.check else " (written)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
