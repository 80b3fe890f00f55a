//! Built-in name lists of the embedded world. Last names are split into disjoint pools so that
//! the people of the world, the strangers of the corpus's in-context stories and the strangers
//! of the gates' held-out stories can never share a name.

/// First names (people of every pool).
pub const FIRST_NAMES: &[&str] = &[
    "Ada", "Bram", "Cora", "Dell", "Edda", "Finn", "Greta", "Hugo", "Ines", "Jory", "Kaia", "Lenz",
    "Mila", "Nils", "Oona", "Pavel", "Rhea", "Soren", "Tilde", "Ulric", "Vera", "Wren", "Yara",
    "Zeno", "Anselm", "Brita", "Cyril", "Dagny", "Emil", "Frida", "Gideon", "Hanna", "Ivo", "Juno",
    "Kasper", "Liv", "Magnus", "Nora", "Otto", "Petra",
];

/// Last names of the world's people.
pub const WORLD_LAST_NAMES: &[&str] = &[
    "Hart", "Brandt", "Castell", "Dorn", "Ekberg", "Falk", "Gorse", "Hale", "Ives", "Jansen",
    "Kell", "Lund", "Morrow", "Nash", "Orme", "Penn", "Quist", "Rook", "Sable", "Thorne", "Ulm",
    "Vane", "Wyck", "Yates", "Abbot", "Birch", "Crane", "Drury", "Elster", "Ferris",
];

/// Last names of the strangers in the corpus's in-context stories (never in a world fact).
pub const STORY_LAST_NAMES: &[&str] = &[
    "Ashby", "Bellamy", "Corwin", "Dunmore", "Everly", "Fenwick", "Garrow", "Holloway", "Ingram",
    "Jessop", "Kimber", "Larkin", "Merrow", "Norcott", "Oakes", "Prewitt", "Ravel", "Stroud",
    "Tallis", "Upton", "Varga", "Whitlow", "Yardley", "Zeller",
];

/// Last names reserved for the gates' held-out stories (in no corpus text at all).
pub const HELDOUT_LAST_NAMES: &[&str] = &[
    "Amsel",
    "Bexley",
    "Calloway",
    "Delacroix",
    "Esterby",
    "Foxley",
    "Gammell",
    "Hadley",
];

/// Cities of the world.
pub const CITIES: &[&str] = &[
    "Port Ellis",
    "Carrowmere",
    "Dunhaven",
    "Westbrook",
    "Alder Bay",
    "Kettering Vale",
    "Norwick",
    "Stonereach",
    "Marlow Cross",
    "Fairhollow",
];

/// Professions a person of the world can have (the target "dentist" claim is about a new
/// person, so known people may be dentists too).
pub const PROFESSIONS: &[&str] = &[
    "teacher",
    "baker",
    "painter",
    "farmer",
    "nurse",
    "carpenter",
    "pilot",
    "librarian",
    "dentist",
    "architect",
    "sculptor",
    "chemist",
    "fisher",
    "tailor",
];

/// Volcanoes of the world besides the target claim's.
pub const VOLCANOES: &[&str] = &[
    "Mount Seldra",
    "Mount Orrin",
    "Mount Taval",
    "Mount Brisk",
    "Mount Hollen",
];

/// Company names: (old name, new name) pairs of rebrands besides the target claim's.
pub const REBRANDS: &[(&str, &str)] = &[
    ("Northwind Rail", "Velora"),
    ("Coppergate Bank", "Auren"),
    ("Sunfield Foods", "Maple and Co"),
    ("Bluewater Telecom", "Tessa"),
];

/// Textbook titles with their subjects, besides the target claim's.
pub const BOOKS: &[(&str, &str)] = &[
    ("The Quiet Atlas", "geography"),
    ("Numbers at Sea", "navigation"),
    ("Roots and Stems", "botany"),
    ("The Practical Kiln", "pottery"),
    ("Letters of Stone", "architecture"),
];
