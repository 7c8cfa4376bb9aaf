/** The release of groundcrew (CLI and agent). A unit test keeps it equal to package.json's version. */
export const VERSION = "0.1.0";
