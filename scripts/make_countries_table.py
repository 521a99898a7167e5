"""Write geo/data/countries.csv: the world's countries by name, ISO 3166-1 codes and OSM relation.

Names and codes are ISO 3166-1 (short names, a few made friendlier; the
formal or older names go in ``other_names``). OSM relation ids come only from
what can be checked here: the ``admin0`` files of the posm-extracts data
(``POSM_EXTRACTS_DIR``), each matched to its ISO row by English name. Their
local names (``Deutschland``, ``Moçambique``) are added as other names.
Countries the data lacks keep an empty ``osm_id``: a download of them needs
the relation id, which the operator looks up on openstreetmap.org.

    .venv/bin/python scripts/make_countries_table.py
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo.lookup.names import normalise_name  # noqa: E402

POSM = Path(
    os.environ.get(
        "POSM_EXTRACTS_DIR", ROOT.parent / "shared" / "data" / "posm-extracts" / "geojson"
    )
)
OUT = ROOT / "geo" / "data" / "countries.csv"

# alpha-2, alpha-3, name; other names after further bars.
ISO = """
AF|AFG|Afghanistan
AX|ALA|Åland Islands
AL|ALB|Albania
DZ|DZA|Algeria
AS|ASM|American Samoa
AD|AND|Andorra
AO|AGO|Angola
AI|AIA|Anguilla
AQ|ATA|Antarctica
AG|ATG|Antigua and Barbuda
AR|ARG|Argentina
AM|ARM|Armenia
AW|ABW|Aruba
AU|AUS|Australia
AT|AUT|Austria
AZ|AZE|Azerbaijan
BS|BHS|Bahamas|The Bahamas
BH|BHR|Bahrain
BD|BGD|Bangladesh
BB|BRB|Barbados
BY|BLR|Belarus
BE|BEL|Belgium
BZ|BLZ|Belize
BJ|BEN|Benin
BM|BMU|Bermuda
BT|BTN|Bhutan
BO|BOL|Bolivia|Bolivia, Plurinational State of
BQ|BES|Bonaire, Sint Eustatius and Saba
BA|BIH|Bosnia and Herzegovina
BW|BWA|Botswana
BV|BVT|Bouvet Island
BR|BRA|Brazil
IO|IOT|British Indian Ocean Territory
BN|BRN|Brunei|Brunei Darussalam
BG|BGR|Bulgaria
BF|BFA|Burkina Faso
BI|BDI|Burundi
CV|CPV|Cabo Verde|Cape Verde
KH|KHM|Cambodia
CM|CMR|Cameroon
CA|CAN|Canada
KY|CYM|Cayman Islands
CF|CAF|Central African Republic
TD|TCD|Chad
CL|CHL|Chile
CN|CHN|China
CX|CXR|Christmas Island
CC|CCK|Cocos (Keeling) Islands
CO|COL|Colombia
KM|COM|Comoros
CG|COG|Congo|Republic of the Congo|Congo-Brazzaville
CD|COD|Democratic Republic of the Congo|Congo, Democratic Republic of the|DR Congo|DRC|Congo-Kinshasa
CK|COK|Cook Islands
CR|CRI|Costa Rica
CI|CIV|Côte d'Ivoire|Ivory Coast
HR|HRV|Croatia
CU|CUB|Cuba
CW|CUW|Curaçao
CY|CYP|Cyprus
CZ|CZE|Czechia|Czech Republic
DK|DNK|Denmark
DJ|DJI|Djibouti
DM|DMA|Dominica
DO|DOM|Dominican Republic
EC|ECU|Ecuador
EG|EGY|Egypt
SV|SLV|El Salvador
GQ|GNQ|Equatorial Guinea
ER|ERI|Eritrea
EE|EST|Estonia
SZ|SWZ|Eswatini|Swaziland
ET|ETH|Ethiopia
FK|FLK|Falkland Islands|Falkland Islands (Malvinas)
FO|FRO|Faroe Islands
FJ|FJI|Fiji
FI|FIN|Finland
FR|FRA|France
GF|GUF|French Guiana
PF|PYF|French Polynesia
TF|ATF|French Southern Territories
GA|GAB|Gabon
GM|GMB|Gambia|The Gambia
GE|GEO|Georgia
DE|DEU|Germany
GH|GHA|Ghana
GI|GIB|Gibraltar
GR|GRC|Greece
GL|GRL|Greenland
GD|GRD|Grenada
GP|GLP|Guadeloupe
GU|GUM|Guam
GT|GTM|Guatemala
GG|GGY|Guernsey
GN|GIN|Guinea
GW|GNB|Guinea-Bissau
GY|GUY|Guyana
HT|HTI|Haiti
HM|HMD|Heard Island and McDonald Islands
VA|VAT|Holy See|Vatican|Vatican City
HN|HND|Honduras
HK|HKG|Hong Kong
HU|HUN|Hungary
IS|ISL|Iceland
IN|IND|India
ID|IDN|Indonesia
IR|IRN|Iran|Iran, Islamic Republic of
IQ|IRQ|Iraq
IE|IRL|Ireland|Republic of Ireland
IM|IMN|Isle of Man
IL|ISR|Israel
IT|ITA|Italy
JM|JAM|Jamaica
JP|JPN|Japan
JE|JEY|Jersey
JO|JOR|Jordan
KZ|KAZ|Kazakhstan
KE|KEN|Kenya
KI|KIR|Kiribati
KP|PRK|North Korea|Korea, Democratic People's Republic of|DPRK
KR|KOR|South Korea|Korea, Republic of|Republic of Korea
KW|KWT|Kuwait
KG|KGZ|Kyrgyzstan
LA|LAO|Laos|Lao People's Democratic Republic
LV|LVA|Latvia
LB|LBN|Lebanon
LS|LSO|Lesotho
LR|LBR|Liberia
LY|LBY|Libya
LI|LIE|Liechtenstein
LT|LTU|Lithuania
LU|LUX|Luxembourg
MO|MAC|Macao|Macau
MG|MDG|Madagascar
MW|MWI|Malawi
MY|MYS|Malaysia
MV|MDV|Maldives
ML|MLI|Mali
MT|MLT|Malta
MH|MHL|Marshall Islands
MQ|MTQ|Martinique
MR|MRT|Mauritania
MU|MUS|Mauritius
YT|MYT|Mayotte
MX|MEX|Mexico
FM|FSM|Micronesia|Federated States of Micronesia|Micronesia (Federated States of)
MD|MDA|Moldova|Moldova, Republic of
MC|MCO|Monaco
MN|MNG|Mongolia
ME|MNE|Montenegro
MS|MSR|Montserrat
MA|MAR|Morocco
MZ|MOZ|Mozambique
MM|MMR|Myanmar|Burma
NA|NAM|Namibia
NR|NRU|Nauru
NP|NPL|Nepal
NL|NLD|Netherlands|The Netherlands|Holland
NC|NCL|New Caledonia
NZ|NZL|New Zealand|Aotearoa
NI|NIC|Nicaragua
NE|NER|Niger
NG|NGA|Nigeria
NU|NIU|Niue
NF|NFK|Norfolk Island
MK|MKD|North Macedonia|Macedonia
MP|MNP|Northern Mariana Islands
NO|NOR|Norway
OM|OMN|Oman
PK|PAK|Pakistan
PW|PLW|Palau
PS|PSE|Palestine|Palestine, State of
PA|PAN|Panama
PG|PNG|Papua New Guinea
PY|PRY|Paraguay
PE|PER|Peru
PH|PHL|Philippines
PN|PCN|Pitcairn
PL|POL|Poland
PT|PRT|Portugal
PR|PRI|Puerto Rico
QA|QAT|Qatar
RE|REU|Réunion
RO|ROU|Romania
RU|RUS|Russia|Russian Federation
RW|RWA|Rwanda
BL|BLM|Saint Barthélemy
SH|SHN|Saint Helena, Ascension and Tristan da Cunha|Saint Helena
KN|KNA|Saint Kitts and Nevis
LC|LCA|Saint Lucia
MF|MAF|Saint Martin (French part)
PM|SPM|Saint Pierre and Miquelon
VC|VCT|Saint Vincent and the Grenadines
WS|WSM|Samoa
SM|SMR|San Marino
ST|STP|Sao Tome and Principe
SA|SAU|Saudi Arabia
SN|SEN|Senegal
RS|SRB|Serbia
SC|SYC|Seychelles
SL|SLE|Sierra Leone
SG|SGP|Singapore
SX|SXM|Sint Maarten (Dutch part)
SK|SVK|Slovakia
SI|SVN|Slovenia
SB|SLB|Solomon Islands
SO|SOM|Somalia
ZA|ZAF|South Africa
GS|SGS|South Georgia and the South Sandwich Islands
SS|SSD|South Sudan
ES|ESP|Spain
LK|LKA|Sri Lanka
SD|SDN|Sudan
SR|SUR|Suriname
SJ|SJM|Svalbard and Jan Mayen
SE|SWE|Sweden
CH|CHE|Switzerland
SY|SYR|Syria|Syrian Arab Republic
TW|TWN|Taiwan
TJ|TJK|Tajikistan
TZ|TZA|Tanzania|Tanzania, United Republic of
TH|THA|Thailand
TL|TLS|Timor-Leste|East Timor
TG|TGO|Togo
TK|TKL|Tokelau
TO|TON|Tonga
TT|TTO|Trinidad and Tobago
TN|TUN|Tunisia
TR|TUR|Türkiye|Turkey
TM|TKM|Turkmenistan
TC|TCA|Turks and Caicos Islands
TV|TUV|Tuvalu
UG|UGA|Uganda
UA|UKR|Ukraine
AE|ARE|United Arab Emirates|UAE
GB|GBR|United Kingdom|UK|Great Britain|Britain
US|USA|United States|United States of America|America
UM|UMI|United States Minor Outlying Islands
UY|URY|Uruguay
UZ|UZB|Uzbekistan
VU|VUT|Vanuatu
VE|VEN|Venezuela|Venezuela, Bolivarian Republic of
VN|VNM|Viet Nam|Vietnam
VG|VGB|British Virgin Islands|Virgin Islands (British)
VI|VIR|United States Virgin Islands|Virgin Islands (U.S.)
WF|WLF|Wallis and Futuna
EH|ESH|Western Sahara
YE|YEM|Yemen
ZM|ZMB|Zambia
ZW|ZWE|Zimbabwe
"""


def main() -> None:
    rows = [line.split("|") for line in ISO.strip().splitlines()]
    by_name = {normalise_name(n): row for row in rows for n in row[2:]}
    relation: dict[str, str] = {}
    local: dict[str, list[str]] = {}
    unmatched = []
    for path in sorted(POSM.glob("R*admin0_simplified.json")):
        for feature in json.loads(path.read_bytes())["features"]:
            props = feature["properties"]
            row = by_name.get(normalise_name(props["name_en"]))
            if row is None:
                unmatched.append(f"{props['osm_id']} {props['name']!r} / {props['name_en']!r}")
                continue
            relation[row[0]] = props["osm_id"]
            known = {normalise_name(n) for n in row[2:]}
            local[row[0]] = [
                n.strip()
                for n in (props["name"], props["name_en"])
                if n != "None" and normalise_name(n) not in known
            ]
    with OUT.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["name", "alpha2", "alpha3", "osm_id", "other_names"])
        for alpha2, alpha3, name, *others in sorted(rows, key=lambda r: normalise_name(r[2])):
            names = [*others, *local.get(alpha2, [])]
            writer.writerow([name, alpha2, alpha3, relation.get(alpha2, ""), ";".join(names)])
    print(f"wrote {OUT}: {len(rows)} countries, {len(relation)} with an OSM relation id")
    for line in unmatched:
        print(f"not matched to an ISO country (left out): {line}")


if __name__ == "__main__":
    main()
